//! Sustained durable append rate on SQLite: 64 concurrent writer tasks, then 1 writer as the
//! baseline, each for a few seconds, with `synchronous = NORMAL` (survives SIGKILL) and
//! `FULL` (survives power loss); prints entries/s and p50/p99 append latency.
//!
//! `cargo bench -p audit --bench append` (`AIGOV_BENCH_SECS` sets the duration per run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use audit::{AuditConfig, AuditLog};
use ledger::{Entry, EntryKind, Outcome, SignerKey, Timestamp};
use store::{LedgerStore, Store, StoreConfig};

fn entry(writer: usize, n: u64) -> Entry {
    Entry::new(
        EntryKind::PolicyDecision,
        Timestamp::from_unix_micros(1_760_000_000_000_000 + n as i64).expect("time"),
        format!("user-{writer}@example.com"),
        format!("repo:service-{}", n % 97),
        Outcome::Success,
    )
    .with_field("request_id", format!("req-{writer}-{n}"))
    .with_field("policy_id", "require-review")
}

struct Run {
    entries: u64,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(writers: usize, power_safe: bool, secs: f64) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    })
    .await
    .expect("open");
    store
        .set_ledger_power_safe(power_safe)
        .await
        .expect("synchronous");
    let key = SignerKey::from_seed("bench.local", [7; 32]).expect("key");
    let log = AuditLog::start(store, key, AuditConfig::new("aigov.local/bench"));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let e = entry(w, n);
                let t = Instant::now();
                log.append(&e).await.expect("append");
                lat.push(t.elapsed());
                n += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("writer"));
    }
    let secs = start.elapsed().as_secs_f64();
    log.shutdown().await.expect("shutdown");
    lat.sort_unstable();
    let pick = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Run {
        entries: lat.len() as u64,
        secs,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

/// The store alone: back-to-back `ledger_append_batch` calls of `batch` entries.
async fn store_only(batch: usize, secs: f64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    })
    .await
    .expect("open");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        let entries = (0..batch)
            .map(|i| {
                let e = entry(i, n);
                n += 1;
                store::NewLedgerEntry {
                    bytes: e.to_canonical_bytes().expect("bytes"),
                    time_micros: e.time.unix_micros(),
                    kind: e.kind.as_str().to_owned(),
                    actor: e.actor.clone(),
                }
            })
            .collect();
        store.ledger_append_batch(entries).await.expect("append");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::var("AIGOV_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for batch in [64usize, 1024] {
        let rate = rt.block_on(store_only(batch, secs.min(3.0)));
        println!("store only (sqlite, NORMAL): batches of {batch:>4}: {rate:>9.0} entries/s");
    }
    let mut rates = Vec::new();
    for (writers, power_safe) in [(64usize, false), (1, false), (64, true), (1, true)] {
        let r = rt.block_on(run(writers, power_safe, secs));
        let rate = r.entries as f64 / r.secs;
        rates.push(rate);
        println!(
            "audit append (sqlite, synchronous={}): {writers:>2} writers: {:>9.0} entries/s \
             ({} entries in {:.1} s), latency p50 {:.2} ms, p99 {:.2} ms",
            if power_safe { "FULL  " } else { "NORMAL" },
            rate,
            r.entries,
            r.secs,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "64 writers / 1 writer: {:.1}x (NORMAL), {:.1}x (FULL)",
        rates[0] / rates[1],
        rates[2] / rates[3]
    );
}
