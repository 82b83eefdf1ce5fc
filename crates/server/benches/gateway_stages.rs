//! Where the gateway's added latency goes: each stage of one request timed on its own
//! (key lookup, prompt scan, policy decision, ledger record per durability), median and p99
//! over many repetitions. `cargo bench -p server --bench gateway_stages`.

use std::time::{Duration, Instant};

use audit::{AuditConfig, AuditLog, Record};
use ledger::{EntryKind, Outcome};
use model::{DecisionRequest, PromptContext};
use store::{NewToken, Store, StoreConfig, TokenKind, TokenStore};

const N: usize = 3000;

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort_unstable();
    let q = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<34} p50 {:>7.1} µs  p99 {:>7.1} µs",
        q(0.5).as_secs_f64() * 1e6,
        q(0.99).as_secs_f64() * 1e6
    );
}

async fn time_async<F, Fut>(mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..200 {
        f().await;
    }
    let mut out = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    })
    .await
    .expect("store");
    let key = "aigov_dev_bench_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    store
        .insert_token(NewToken {
            name: "bench".to_owned(),
            kind: TokenKind::Developer,
            hash: server::token::hash_token(key),
            person: Some("lena".to_owned()),
            repo: Some("acme/storefront".to_owned()),
        })
        .await
        .expect("key");
    let bundle_dir = dir.path().join("bundle");
    bundle::example::write_to(&bundle_dir).expect("bundle");
    let loaded = server::load_bundle(&bundle_dir).await.expect("load");

    let hash = server::token::hash_token(key);
    report(
        "key hash (sha256)",
        time_async(|| async {
            std::hint::black_box(server::token::hash_token(key));
        })
        .await,
    );
    report(
        "key lookup (SQLite)",
        time_async(|| async {
            store.active_token_by_hash(&hash).await.unwrap().unwrap();
        })
        .await,
    );

    let line = "Please review this function and explain how the retry loop handles errors.\n";
    let prompt: String = line.repeat(10_240 / line.len() + 1)[..10_240].to_owned();
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "local-coder",
        "messages": [{ "role": "user", "content": prompt }],
    }))
    .unwrap();
    report(
        "parse 10 KB request JSON",
        time_async(|| async {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
        })
        .await,
    );
    let scanner = &loaded.bundle.scanner;
    let source = scanner::Source {
        path: None,
        repo: Some("acme/storefront"),
    };
    report(
        "scan secrets 10 KB",
        time_async(|| async {
            std::hint::black_box(scanner.scan_secrets_in(prompt.as_bytes(), source));
        })
        .await,
    );
    report(
        "scan PII 10 KB",
        time_async(|| async {
            std::hint::black_box(scanner.scan_pii_in(prompt.as_bytes(), source));
        })
        .await,
    );
    let request = DecisionRequest::SendPrompt {
        principal: "lena".to_owned(),
        resource: "acme/storefront".to_owned(),
        context: PromptContext {
            tool: "aider".to_owned(),
            model: "local-coder".to_owned(),
            findings: Default::default(),
            token_estimate: 2560,
            budget: Default::default(),
        },
    };
    report(
        "policy decide (SendPrompt)",
        time_async(|| async {
            std::hint::black_box(loaded.bundle.engine.decide(&request));
        })
        .await,
    );

    for power_safe in [false, true] {
        store.set_ledger_power_safe(power_safe).await.unwrap();
        let signer = ledger::SignerKey::from_seed("bench.local", [1; 32]).expect("signer");
        let mut config = AuditConfig::new("bench.local/audit");
        config.checkpoint_interval = None;
        let audit = AuditLog::start(store.clone(), signer, config);
        let record = || {
            Record::new(
                EntryKind::GatewayRequest,
                "gateway.request",
                "lena",
                "repo:acme/storefront",
                Outcome::Success,
            )
            .field("tool", "aider")
            .field("model", "local-coder")
            .details(serde_json::json!({"upstream": "local", "usage": {"prompt_tokens": 2560}}))
        };
        report(
            if power_safe {
                "ledger record, power-loss (FULL)"
            } else {
                "ledger record, process-crash"
            },
            time_async(|| async {
                audit.record(record()).await.unwrap();
            })
            .await,
        );
        audit.shutdown().await.unwrap();
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
