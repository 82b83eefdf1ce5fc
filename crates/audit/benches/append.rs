//! Sustained durable append rate on SQLite: 64 concurrent writer tasks, then 1 writer as the
//! baseline, each for a few seconds, with `synchronous = NORMAL` (survives SIGKILL) and
//! `FULL` (survives power loss); prints entries/s and p50/p99 append latency.
//!
//! With `AIGOV_BENCH_POSTGRES_URL` (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`)
//! the same two runs happen on PostgreSQL, each in a fresh database.
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

#[derive(Clone, Copy)]
enum Backend<'a> {
    Sqlite {
        power_safe: bool,
    },
    /// Admin URL; each run creates (and drops) its own database.
    Postgres(&'a str),
}

async fn run(writers: usize, backend: Backend<'_>, secs: f64) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pg_db = None;
    let store = match backend {
        Backend::Sqlite { power_safe } => {
            let store = Store::open(&StoreConfig::Sqlite {
                path: dir.path().join("bench.db"),
            })
            .await
            .expect("open");
            store
                .set_ledger_power_safe(power_safe)
                .await
                .expect("synchronous");
            store
        }
        Backend::Postgres(admin) => {
            let (url, db) = create_pg_database(admin).await;
            pg_db = Some(db);
            Store::open(&StoreConfig::Postgres {
                url,
                password: std::env::var("PGPASSWORD").ok(),
            })
            .await
            .expect("open postgres")
        }
    };
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
    drop(log);
    if let (Backend::Postgres(admin), Some(db)) = (backend, pg_db) {
        drop_pg_database(admin, &db).await;
    }
    lat.sort_unstable();
    let pick = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Run {
        entries: lat.len() as u64,
        secs,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

async fn admin_client(admin: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("connect to AIGOV_BENCH_POSTGRES_URL");
    tokio::spawn(conn);
    client
}

/// Creates a fresh database; returns a URL for it and its name.
async fn create_pg_database(admin: &str) -> (String, String) {
    let name = format!(
        "aigov_bench_{}_{}",
        std::process::id(),
        rand::random::<u32>()
    );
    admin_client(admin)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

async fn drop_pg_database(admin: &str, name: &str) {
    let _ = admin_client(admin)
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
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
                    details: None,
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
    let pg = std::env::var("AIGOV_BENCH_POSTGRES_URL").ok();
    let mut runs = vec![
        (64usize, Backend::Sqlite { power_safe: false }),
        (1, Backend::Sqlite { power_safe: false }),
        (64, Backend::Sqlite { power_safe: true }),
        (1, Backend::Sqlite { power_safe: true }),
    ];
    if let Some(url) = pg.as_deref() {
        runs.push((64, Backend::Postgres(url)));
        runs.push((1, Backend::Postgres(url)));
    }
    for (writers, backend) in runs {
        let r = rt.block_on(run(writers, backend, secs));
        let rate = r.entries as f64 / r.secs;
        rates.push(rate);
        println!(
            "audit append ({}): {writers:>2} writers: {:>9.0} entries/s \
             ({} entries in {:.1} s), latency p50 {:.2} ms, p99 {:.2} ms",
            match backend {
                Backend::Sqlite { power_safe: false } => "sqlite, synchronous=NORMAL",
                Backend::Sqlite { power_safe: true } => "sqlite, synchronous=FULL  ",
                Backend::Postgres(_) => "postgres, synchronous_commit=on",
            },
            rate,
            r.entries,
            r.secs,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "64 writers / 1 writer: {:.1}x (NORMAL), {:.1}x (FULL); NORMAL / FULL at 64 writers: {:.2}x",
        rates[0] / rates[1],
        rates[2] / rates[3],
        rates[0] / rates[2]
    );
    if rates.len() == 6 {
        println!(
            "postgres 64 writers / 1 writer: {:.1}x; postgres / sqlite FULL at 64 writers: {:.2}x",
            rates[4] / rates[5],
            rates[4] / rates[2]
        );
    }
}
