//! Added latency of the AI gateway: the same 10 KB chat completion sent straight to the
//! stand-in provider and through `aigov`'s gateway (key lookup, prompt scan, policy decision,
//! forwarding, durable ledger entry), one request at a time, alternating, in the same run.
//! Prints p50/p99 of both and of the difference, for each `[gateway] answer_after` and
//! ledger durability.
//!
//! `cargo bench -p server --bench gateway` (`AIGOV_BENCH_REQUESTS` sets the count, default 3000).

use std::time::{Duration, Instant};

use audit::{AuditConfig, AuditLog};
use config::{AnswerAfter, GatewayConfig, Secret, Upstream, UpstreamApi};
use store::{NewToken, Store, StoreConfig, TokenKind, TokenStore};

const OPENAI_KEY: &str = "sk-bench-upstream";

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

async fn run(answer_after: AnswerAfter, power_safe: bool, requests: usize) {
    let standin = standin::spawn(standin::Options::new(OPENAI_KEY, "unused"))
        .await
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    })
    .await
    .expect("store");
    store
        .set_ledger_power_safe(power_safe)
        .await
        .expect("durability");
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
    // The example's budgets, out of reach: checked on every request, never refusing one.
    std::fs::write(
        bundle_dir.join("budgets.yaml"),
        "budgets:
  - { name: developer-monthly, per: [developer], window: month, limit: { cost_usd: 1_000_000 } }
  - { name: team-daily-tokens, per: [team], window: day, limit: { tokens: 1_000_000_000_000 } }
  - { name: developer-rate, per: [developer], window: minute, limit: { requests: 1_000_000_000 } }
",
    )
    .expect("budgets");
    let loaded = server::load_bundle(&bundle_dir).await.expect("load");
    let signer = ledger::SignerKey::from_seed("bench.local", [1; 32]).expect("signer");
    let audit = AuditLog::start(store.clone(), signer, AuditConfig::new("bench.local/audit"));
    let gateway = GatewayConfig {
        upstreams: vec![Upstream {
            name: "local".to_owned(),
            api: UpstreamApi::Openai,
            base_url: standin.openai_base_url(),
            api_key_ref: None,
            api_key: Some(Secret::new(OPENAI_KEY)),
            models: vec!["local-coder".to_owned()],
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            fallback: Vec::new(),
        }],
        answer_after,
        prices: Default::default(),
    };
    let state = server::AppState::with_gateway(
        store,
        audit.clone(),
        loaded,
        bundle_dir,
        Duration::from_secs(3600),
        gateway,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gateway_url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(state, listener, async move {
        let _ = stopped.await;
    }));

    // A 10 KB prompt of ordinary code-review text (no findings).
    let line = "Please review this function and explain how the retry loop handles errors.\n";
    let prompt: String = line.repeat(10_240 / line.len() + 1)[..10_240].to_owned();
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "local-coder",
        "messages": [{ "role": "user", "content": prompt }],
    }))
    .unwrap();
    let direct_url = format!("{}/chat/completions", standin.openai_base_url());
    let client = reqwest::Client::new();
    let send = |url: &str, key: &str| {
        client
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("x-aigov-tool", "aider")
            .body(body.clone())
            .send()
    };
    // Warm up connections and caches.
    for _ in 0..200 {
        send(&direct_url, OPENAI_KEY)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let r = send(&gateway_url, key).await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let mut direct = Vec::with_capacity(requests);
    let mut through = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        send(&direct_url, OPENAI_KEY)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        direct.push(t.elapsed());
        let t = Instant::now();
        send(&gateway_url, key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        through.push(t.elapsed());
    }
    let mut added: Vec<Duration> = through
        .iter()
        .zip(&direct)
        .map(|(g, d)| g.saturating_sub(*d))
        .collect();
    direct.sort_unstable();
    through.sort_unstable();
    added.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "answer after {:<9} ledger {}: {requests} requests, 10 KB prompt: direct p50 {:.0} µs p99 {:.0} µs | \
         through aigov p50 {:.0} µs p99 {:.0} µs | added p50 {:.0} µs p99 {:.0} µs ({:.1}x direct at p50)",
        format!("{answer_after:?},"),
        if power_safe {
            "power-loss (FULL)     "
        } else {
            "process-crash (NORMAL)"
        },
        us(quantile(&direct, 0.5)),
        us(quantile(&direct, 0.99)),
        us(quantile(&through, 0.5)),
        us(quantile(&through, 0.99)),
        us(quantile(&added, 0.5)),
        us(quantile(&added, 0.99)),
        us(quantile(&through, 0.5)) / us(quantile(&direct, 0.5)),
    );
    let _ = stop.send(());
    let _ = server.await;
    audit.shutdown().await.expect("audit shutdown");
}

fn main() {
    let requests = std::env::var("AIGOV_BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for answer_after in [AnswerAfter::Queued, AnswerAfter::Committed] {
        for power_safe in [false, true] {
            rt.block_on(run(answer_after, power_safe, requests));
        }
    }
}
