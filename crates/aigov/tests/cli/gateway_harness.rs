//! `aigov serve` as a gateway in front of a stand-in provider, for the tests that drive it with
//! real clients (`claude_code.rs`, `sse_curl.rs`): start, a developer key, stop, the ledger.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Child, aigov, http_get, run};

pub(crate) const UPSTREAM_OPENAI_KEY: &str = "sk-upstream-openai";
pub(crate) const UPSTREAM_ANTHROPIC_KEY: &str = "sk-ant-upstream";
/// The Anthropic model the gateway routes (in the example bundle's inventory).
pub(crate) const ANTHROPIC_MODEL: &str = "claude-sonnet-4";
/// The OpenAI-API model the gateway routes.
pub(crate) const OPENAI_MODEL: &str = "local-coder";
/// Who the developer key belongs to, and its default repository.
pub(crate) const PERSON: &str = "lena";
pub(crate) const REPO: &str = "acme/storefront";

/// `target/<profile>`'s parent, where tools installed for tests are cached.
pub(crate) fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_aigov"));
    bin.parent().and_then(Path::parent).unwrap().to_owned()
}

/// `aigov key create` in `dir` (data in `dir/data`): a developer key of `person`.
pub(crate) fn create_key(dir: &Path, person: &str, repo: &str) -> String {
    let out = run(
        dir,
        &[
            "key",
            "create",
            "--person",
            person,
            "--repo",
            repo,
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "aigov key create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `aigov serve` whose upstreams are `upstream`'s OpenAI and Anthropic routes.
pub(crate) struct Gateway {
    pub dir: tempfile::TempDir,
    child: Child,
    pub url: String,
    /// A developer key of [`PERSON`] with default repository [`REPO`].
    pub key: String,
}

impl Gateway {
    pub fn start(upstream: &standin::StandIn) -> Gateway {
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
models = ["{OPENAI_MODEL}"]

[[gateway.upstreams]]
name = "anthropic"
api = "anthropic"
base_url = "{}"
api_key = "env:UPSTREAM_ANTHROPIC_KEY"
models = ["{ANTHROPIC_MODEL}"]
"#,
            upstream.openai_base_url(),
            upstream.anthropic_base_url()
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
        let started = Instant::now();
        while !matches!(http_get(port, "/healthz", None), Ok((200, _))) {
            let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!("aigov serve exited early with {status}:\n{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "aigov serve did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let key = create_key(dir.path(), PERSON, REPO);
        Gateway {
            dir,
            child,
            url: format!("http://{listen}"),
            key,
        }
    }

    /// What `aigov serve` logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM, and waits (bounded) for a clean exit, so every entry is committed.
    pub fn stop(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let stopping = Instant::now();
        let status = loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                stopping.elapsed() < Duration::from_secs(10),
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0), "{}", self.log());
    }

    /// The `gateway_request` ledger entries, oldest first (`aigov audit log --format json`).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        let out = run(
            self.dir.path(),
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
        assert_eq!(
            out.status.code(),
            Some(0),
            "aigov audit log: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The details rows of the gateway requests (usage, stream completion), oldest first.
    pub fn details(&self) -> Vec<serde_json::Value> {
        let path = self.dir.path().join("data/aigov.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = store::Store::open(&store::StoreConfig::Sqlite { path })
                .await
                .unwrap();
            let rows = store::EventStore::list_events(
                &store,
                store::EventQuery {
                    kind: Some("gateway.request".to_owned()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            rows.into_iter().map(|r| r.payload).collect()
        })
    }

    /// `aigov audit verify` over the whole ledger passes.
    pub fn verify(&self) {
        let key_file = self.dir.path().join("data/audit-signing.key");
        let out = run(
            self.dir.path(),
            &["audit", "key", "--file", key_file.to_str().unwrap()],
        );
        let verifier = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let out = run(
            self.dir.path(),
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
            "aigov audit verify:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
