//! `aigov serve`'s AI gateway driven by the official OpenAI and Anthropic Python SDKs, with the
//! stand-in provider as upstream; afterwards the audit ledger verifies.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway_harness::create_key;
use super::{Child, aigov, http_get, run};

const UPSTREAM_OPENAI_KEY: &str = "sk-upstream-openai";
const UPSTREAM_ANTHROPIC_KEY: &str = "sk-ant-upstream";

/// The test bundle's budgets (`gateway_sdk.py` spends them; its constants match): omar may
/// send 3 requests an hour; dana 10 tokens an hour with each tool, which the stand-in's
/// reported usage of one request (12 output tokens alone) exceeds. Nobody else is limited.
const BUDGETS: &str = "\
budgets:
  - name: sdk-rate
    per: [developer]
    where: { developer: omar }
    window: hour
    limit: { requests: 3 }
  - name: sdk-tokens-aider
    per: [developer]
    where: { developer: dana, tool: aider }
    window: hour
    limit: { tokens: 10 }
  - name: sdk-tokens-claude-code
    per: [developer]
    where: { developer: dana, tool: claude-code }
    window: hour
    limit: { tokens: 10 }
";

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
    let dir = super::bundle_copy(|bundle| {
        std::fs::write(bundle.join("budgets.yaml"), BUDGETS).unwrap();
    });
    let mut config = std::fs::File::create(dir.path().join("aigov.toml")).unwrap();
    write!(
        config,
        r#"
[bundle]
path = "bundle"

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

    let key_of = |person: &str| create_key(dir.path(), person, "acme/storefront");
    let key = key_of("lena");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gateway_sdk.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("AIGOV_URL", format!("http://{listen}"))
        .env("AIGOV_KEY", &key)
        .env("AIGOV_RATE_KEY", key_of("omar"))
        .env("AIGOV_TOKENS_KEY", key_of("dana"))
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
    // lena's seven OpenAI calls (chat JSON, stream, tools, responses JSON and stream,
    // embeddings, the redacted chat) and three Anthropic ones (JSON, stream, count_tokens);
    // omar's three within his rate limit, dana's two streams within her token budgets;
    // denials and budget refusals stay home.
    assert_eq!(requests.len(), 15, "{requests:#?}");
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
    let lena: Vec<&serde_json::Value> = requests.iter().filter(|r| r["actor"] == "lena").collect();
    let denied = lena.iter().filter(|r| r["decision"] == "deny").count();
    assert_eq!(denied, 2, "{lines}");
    assert_eq!(
        lena.len(),
        13,
        "10 forwarded, 2 denied, 1 upstream failure; the unknown key names no one"
    );

    // Every budget refusal left an entry: a denial by `budget-exceeded` with status 429, whose
    // details name the budget and, for tokens, the usage the upstream reported before.
    let details = details_of(&dir.path().join("data/aigov.db"));
    let budget_use = |actor: &str| -> Vec<String> {
        let entries = requests.iter().filter(|r| r["actor"] == actor);
        let rows = details.iter().filter(|(a, _)| a == actor);
        entries
            .zip(rows)
            .map(|(entry, (_, row))| {
                let f = &entry["fields"];
                let mut line = format!(
                    "{} {} {} {}",
                    f["endpoint"].as_str().unwrap(),
                    f["status"].as_str().unwrap(),
                    entry["decision"].as_str().unwrap_or("-"),
                    f["policies"].as_str().unwrap_or("-"),
                );
                match &row["budget"]["tightest"] {
                    serde_json::Value::Null => {
                        let used = |k: &str| f[k].as_str().map_or(0, |n| n.parse::<u64>().unwrap());
                        line += &format!(" used={}", used("tokens_in") + used("tokens_out"));
                    }
                    spent => {
                        line += &format!(
                            " {} spent={}",
                            spent["budget"].as_str().unwrap(),
                            spent["spent"]
                        )
                    }
                }
                line
            })
            .collect()
    };
    // Every budget request asks "hi": the stand-in reports ceil(2/4) = 1 input token and 12
    // output tokens.
    let expected: [(&str, &[&str]); 2] = [
        (
            "omar",
            &[
                "chat/completions 200 allow - used=13",
                "chat/completions 200 allow - used=13",
                "messages 200 allow - used=13",
                "chat/completions 429 deny budget-exceeded sdk-rate spent=3",
                "chat/completions 429 deny budget-exceeded sdk-rate spent=3",
                "messages 429 deny budget-exceeded sdk-rate spent=3",
            ],
        ),
        (
            "dana",
            &[
                "chat/completions 200 allow - used=13",
                "chat/completions 429 deny budget-exceeded sdk-tokens-aider spent=13",
                "messages 200 allow - used=13",
                "messages 429 deny budget-exceeded sdk-tokens-claude-code spent=13",
            ],
        ),
    ];
    for (actor, lines) in expected {
        assert_eq!(budget_use(actor), lines, "{actor}'s requests in the ledger");
    }
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

/// `(actor, details)` of every gateway request, oldest first (the details row of each entry).
fn details_of(db: &Path) -> Vec<(String, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = store::Store::open(&store::StoreConfig::Sqlite {
            path: db.to_owned(),
        })
        .await
        .unwrap();
        let rows = store::EventStore::list_events(
            &store,
            store::EventQuery {
                kind: Some("gateway.request".to_owned()),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        rows.into_iter().map(|r| (r.actor, r.payload)).collect()
    })
}
