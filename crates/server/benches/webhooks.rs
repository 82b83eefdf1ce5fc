//! Webhook ingestion throughput on SQLite: `aigov`'s server (default durability: an accepted
//! delivery is fsynced, like an audit entry) receives signed GitHub deliveries with real
//! payload bodies (the vendored `@octokit/webhooks-examples`, spread over 50 pull requests)
//! over real HTTP from N concurrent connections, each with a unique delivery id. Prints
//! accepted deliveries/s, then waits until every delivery is processed into change records
//! (one ledger entry each) and checks that none was lost.
//!
//! `cargo bench -p server --bench webhooks` (`AIGOV_BENCH_DELIVERIES`, default 20000;
//! `AIGOV_BENCH_CONNECTIONS`, default 32). The load generator runs on the same machine.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use audit::{AuditConfig, AuditLog};
use config::{Secret, WebhooksConfig};
use store::{ChangeStore, LedgerSearch, LedgerStore, Store, StoreConfig};

const SECRET: &str = "bench-webhook-secret";
/// Pull requests the deliveries are spread over.
const PULL_REQUESTS: u64 = 50;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A vendored payload as pull request `number` (where the payload names one).
fn payload(file: &str, number: u64) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../change/test_data/github")
        .join(file);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("payload")).expect("json");
    for pointer in [
        "/number",
        "/pull_request/number",
        "/check_run/pull_requests/0/number",
        "/check_suite/pull_requests/0/number",
    ] {
        if let Some(v) = value.pointer_mut(pointer) {
            *v = number.into();
        }
    }
    serde_json::to_vec(&value).expect("json")
}

fn main() {
    let deliveries = env_or("AIGOV_BENCH_DELIVERIES", 20_000);
    let connections = env_or("AIGOV_BENCH_CONNECTIONS", 32);
    // `AIGOV_BENCH_PROCESS=0`: accept only (`[webhooks] process = false`), to see intake alone.
    let process = env_or("AIGOV_BENCH_PROCESS", 1) != 0;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(deliveries, connections, process));
}

async fn run(deliveries: usize, connections: usize, process: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    })
    .await
    .expect("store");
    // `[audit] durability = "power-loss"`, the default: commits are fsynced.
    store.set_ledger_power_safe(true).await.expect("durability");
    let bundle_dir = dir.path().join("bundle");
    bundle::example::write_to(&bundle_dir).expect("bundle");
    let loaded = server::load_bundle(&bundle_dir).await.expect("load");
    let signer = ledger::SignerKey::from_seed("bench.local", [1; 32]).expect("signer");
    let audit = AuditLog::start(store.clone(), signer, AuditConfig::new("bench.local/audit"));
    let state = server::AppState::with_webhooks(
        store.clone(),
        audit.clone(),
        loaded,
        bundle_dir,
        Duration::from_secs(3600),
        config::GatewayConfig::default(),
        WebhooksConfig {
            github_secret: Some(Secret::new(SECRET)),
            process,
            ..WebhooksConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/webhooks/github", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(state, listener, async move {
        let _ = stopped.await;
    }));

    // Real payloads (event, body, signature), as 50 different pull requests.
    let kinds = [
        ("pull_request", "pull_request.opened.json"),
        ("check_run", "check_run.created.json"),
        ("pull_request_review", "pull_request_review.submitted.json"),
        ("check_run", "check_run.completed.json"),
        ("check_suite", "check_suite.completed.json"),
        ("status", "status.json"),
        ("pull_request", "pull_request.synchronize.json"),
        ("push", "push.branch-created.json"),
        ("deployment_status", "deployment_status.created.json"),
    ];
    let mut bodies = Vec::new();
    for number in 1..=PULL_REQUESTS {
        for (event, file) in kinds {
            let body = payload(file, number);
            let signature = change::webhook::github_signature(SECRET.as_bytes(), &body);
            bodies.push((event, bytes_of(body), signature));
        }
    }
    let bodies = Arc::new(bodies);
    let body_bytes: usize = bodies.iter().map(|b| b.1.len()).sum::<usize>() / bodies.len();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, next, bodies) =
            (client.clone(), url.clone(), next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= deliveries {
                    return latencies;
                }
                let (event, body, signature) = &bodies[i % bodies.len()];
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-GitHub-Event", *event)
                    .header("X-GitHub-Delivery", format!("bench-{i:08}"))
                    .header("X-Hub-Signature-256", signature.as_str())
                    .body(body.clone())
                    .send()
                    .await
                    .expect("send");
                let status = response.status();
                let text = response.text().await.expect("answer");
                assert_eq!(status, 202, "delivery {i}: {text}");
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(deliveries);
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let accepted_in = started.elapsed();
    latencies.sort_unstable();
    let q = |f: f64| latencies[((latencies.len() as f64 * f) as usize).min(latencies.len() - 1)];
    let counts = store.delivery_counts().await.expect("counts");
    println!(
        "accepted {deliveries} deliveries ({} KB average body, {connections} connections) in {:.2} s: {:.0} deliveries/s; answer p50 {:.1} ms p99 {:.1} ms; {} already processed",
        body_bytes / 1024,
        accepted_in.as_secs_f64(),
        deliveries as f64 / accepted_in.as_secs_f64(),
        q(0.5).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        counts.total() - counts.pending,
    );

    if !process {
        println!(
            "stored {} of {deliveries} sent, all pending (processing off)",
            counts.total()
        );
        assert_eq!(counts.total(), deliveries as u64, "deliveries lost");
        let _ = stop.send(());
        let _ = server.await;
        audit.shutdown().await.expect("audit shutdown");
        return;
    }
    // Every delivery processed: stored once each, none pending or failed.
    let counts = loop {
        let counts = store.delivery_counts().await.expect("counts");
        if counts.pending == 0 || started.elapsed() > Duration::from_secs(600) {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let processed_in = started.elapsed();
    println!(
        "processed all in {:.2} s from the first delivery: {:.0} deliveries/s ({} processed, {} ignored, {} failed, {} pending)",
        processed_in.as_secs_f64(),
        deliveries as f64 / processed_in.as_secs_f64(),
        counts.processed,
        counts.ignored,
        counts.failed,
        counts.pending,
    );
    let entries = store
        .ledger_search(LedgerSearch {
            start: 0,
            end: u64::MAX,
            kinds: vec!["change".to_owned()],
            ..LedgerSearch::default()
        })
        .await
        .expect("ledger");
    let lost = deliveries as u64 - counts.total();
    println!(
        "stored {} of {deliveries} sent (lost: {lost}); {} `change` ledger entries",
        counts.total(),
        entries.len()
    );
    assert_eq!(lost, 0, "deliveries lost");
    assert_eq!(
        counts.pending + counts.failed,
        0,
        "deliveries not processed"
    );
    assert_eq!(entries.len(), deliveries, "one ledger entry per delivery");
    let _ = stop.send(());
    let _ = server.await;
    audit.shutdown().await.expect("audit shutdown");
}

/// A body every request can share without copying it.
fn bytes_of(body: Vec<u8>) -> axum::body::Bytes {
    axum::body::Bytes::from(body)
}
