//! `aigov serve`'s AI gateway driven by the official OpenAI and Anthropic Python SDKs, with the
//! stand-in provider as upstream; afterwards the audit ledger verifies.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Child, aigov, http_get, run};

const UPSTREAM_OPENAI_KEY: &str = "sk-upstream-openai";
const UPSTREAM_ANTHROPIC_KEY: &str = "sk-ant-upstream";

#[test]
fn official_sdks_work_through_the_gateway() {
    // target/<profile>/aigov -> target
    let bin = Path::new(env!("CARGO_BIN_EXE_aigov"));
    let target = bin.parent().and_then(Path::parent).unwrap();
    let Some(python) =
        standin::sdk::python_or_skip(target, "official_sdks_work_through_the_gateway")
    else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt
        .block_on(standin::spawn(standin::Options::new(
            UPSTREAM_OPENAI_KEY,
            UPSTREAM_ANTHROPIC_KEY,
        )))
        .unwrap();

    // Bound then dropped: nothing listens there.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut config = std::fs::File::create(dir.path().join("aigov.toml")).unwrap();
    write!(
        config,
        r#"
[[gateway.upstreams]]
name = "local"
api = "openai"
base_url = "{}"
api_key = "env:UPSTREAM_OPENAI_KEY"
models = ["local-coder"]

[[gateway.upstreams]]
name = "anthropic"
api = "anthropic"
base_url = "{}"
api_key = "env:UPSTREAM_ANTHROPIC_KEY"
models = ["claude-sonnet-4"]

[[gateway.upstreams]]
name = "dead"
api = "openai"
base_url = "http://127.0.0.1:{}/v1"
models = ["gpt-4o"]
"#,
        upstream.openai_base_url(),
        upstream.anthropic_base_url(),
        dead_port
    )
    .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = Child(
        aigov(dir.path())
            .args(["serve", "--listen", &listen, "--data-dir", "data"])
            .env("UPSTREAM_OPENAI_KEY", UPSTREAM_OPENAI_KEY)
            .env("UPSTREAM_ANTHROPIC_KEY", UPSTREAM_ANTHROPIC_KEY)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let started = Instant::now();
    while !matches!(http_get(port, "/healthz", None), Ok((200, _))) {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("aigov serve exited early with {status}:\n{}", log());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = run(
        dir.path(),
        &[
            "key",
            "create",
            "--person",
            "lena",
            "--repo",
            "acme/storefront",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gateway_sdk.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("AIGOV_URL", format!("http://{listen}"))
        .env("AIGOV_KEY", &key)
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gateway_sdk.py failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");

    // The upstream never saw a developer key; every forwarded request carried its own.
    let requests = upstream.requests();
    // Seven OpenAI calls (chat JSON, stream, tools, responses JSON and stream, embeddings,
    // the redacted chat) and three Anthropic ones (JSON, stream, count_tokens); denials stay
    // home.
    assert_eq!(requests.len(), 10, "{requests:#?}");
    let redacted = &requests[6].body["messages"][0]["content"];
    assert_eq!(
        redacted,
        "mail [REDACTED:email], key [REDACTED:aws-access-key]"
    );
    assert!(!format!("{requests:?}").contains(&key));
    assert!(!log().contains(&key), "developer keys are never logged");

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopping = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(stopping.elapsed() < Duration::from_secs(10), "{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every gateway request is in a ledger that verifies.
    let out = run(
        dir.path(),
        &[
            "audit",
            "log",
            "--db",
            "data/aigov.db",
            "--kind",
            "gateway_request",
            "--format",
            "json",
        ],
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    let requests: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied = requests.iter().filter(|r| r["decision"] == "deny").count();
    assert_eq!(denied, 2, "{lines}");
    assert_eq!(
        requests.len(),
        13,
        "10 forwarded, 2 denied, 1 upstream failure; the unknown key names no one"
    );
    let key_file = dir.path().join("data/audit-signing.key");
    let out = run(
        dir.path(),
        &["audit", "key", "--file", key_file.to_str().unwrap()],
    );
    let verifier = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = run(
        dir.path(),
        &[
            "audit",
            "verify",
            "--db",
            "data/aigov.db",
            "--origin",
            "aigov.local/audit",
            "--key",
            &verifier,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(upstream);
}
