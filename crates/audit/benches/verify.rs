//! Whole-log verification over a large log (1,000,000 entries by default; the goal is under
//! 2 s on SQLite): builds the log with realistic ~330-byte entries and a few signed
//! checkpoints, then times `audit::verify` end to end (open + verify), next to same-run
//! baselines: only reading every entry and stored hash (no hashing), and the in-memory work
//! (`LogVerifier` over the same leaf data; decoding every entry). Also times an `audit log`
//! style search for one kind. Prints median and min of 3 runs.
//!
//! `cargo bench -p audit --bench verify`; `AIGOV_BENCH_ENTRIES` sets the size,
//! `AIGOV_BENCH_POSTGRES_URL` (a server the bench may create a database on) adds PostgreSQL.

use std::cell::Cell;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Instant;

use ledger::{
    Checkpoint, Decision, Entry, EntryKind, LogVerifier, Origin, Outcome, SignerKey, Timestamp,
    sha256, stored_hash_count,
};
use store::{LedgerSearch, LedgerStore, NewLedgerEntry, Store, StoreConfig};

const ORIGIN: &str = "aigov.local/bench";
const RUNS: usize = 3;
const BATCH: u64 = 4096;
/// Entries and stored-hash pages read by the read-only baseline (as `audit::verify` does).
const READ_PAGE: u32 = 8192;
/// Index range per search call (as `aigov audit log` does).
const SEARCH_PAGE: u64 = 16_384;

/// Entry `n`: mostly policy decisions and gateway requests, a few rarer kinds.
fn entry(n: u64) -> Entry {
    let kind = match n % 1000 {
        0..=549 => EntryKind::PolicyDecision,
        550..=849 => EntryKind::GatewayRequest,
        850..=949 => EntryKind::Authentication,
        950..=989 => EntryKind::Scan,
        990..=998 => EntryKind::AdminAction,
        _ => EntryKind::BreakGlass,
    };
    let outcome = if n.is_multiple_of(17) {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let mut e = Entry::new(
        kind,
        Timestamp::from_unix_micros(1_760_000_000_000_000 + n as i64 * 1_000).expect("time"),
        format!("user-{}@example.com", n % 500),
        format!("repo:acme/service-{}", n % 97),
        outcome,
    )
    .with_origin(Origin {
        ip: Some(IpAddr::V4(Ipv4Addr::new(
            10,
            0,
            (n % 250) as u8,
            (n % 199) as u8,
        ))),
        host: None,
        replica: Some(format!("aigov-{}", n % 3)),
    })
    .with_payload_sha256(sha256(&n.to_le_bytes()))
    .with_field("request_id", format!("req-{n:012}"))
    .with_field("policy_id", "require-review");
    if kind == EntryKind::PolicyDecision {
        e = e.with_decision(if n.is_multiple_of(5) {
            Decision::Deny
        } else {
            Decision::Allow
        });
    }
    e
}

fn signer() -> SignerKey {
    SignerKey::from_seed("bench.local", [7; 32]).expect("key")
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// CPU time (user + system) of this process so far, in seconds, where `/proc` tells
/// (assumes the usual 100 clock ticks per second).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut fields = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// One measurement: median and min wall time of `RUNS` runs, and median CPU time.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    cpu: Option<f64>,
}

/// Times `RUNS` runs of `f`, which returns its own wall time in seconds.
async fn timed<F, Fut>(mut f: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: Future<Output = f64>,
{
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let before = cpu_secs();
        wall.push(f().await);
        if let (Some(before), Some(after)) = (before, cpu_secs()) {
            cpu.push(after - before);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Timing {
        median: wall[RUNS / 2],
        min: wall[0],
        cpu: cpu.get(cpu.len() / 2).copied(),
    }
}

fn report(label: &str, what: &str, t: Timing, n: u64) {
    let cpu = t
        .cpu
        .map(|c| format!("  cpu {c:>5.2} s"))
        .unwrap_or_default();
    println!(
        "{label:<8} {what:<47} median {:>6.3} s  min {:>6.3} s  {:>9.0} entries/s{cpu}",
        t.median,
        t.min,
        n as f64 / t.median
    );
}

/// Appends `n` entries in batches and signs checkpoints at a few sizes; returns the
/// canonical bytes of every entry (the leaf data).
async fn build(store: &Store, n: u64) -> Vec<Vec<u8>> {
    let key = signer();
    let checkpoints = [n / 10, n / 4, n / 2, 3 * n / 4, n];
    let mut leaves = Vec::with_capacity(n as usize);
    let mut next = 0;
    while next < n {
        let end = n.min(next + BATCH);
        let batch: Vec<NewLedgerEntry> = (next..end)
            .map(|i| {
                let e = entry(i);
                let bytes = e.to_canonical_bytes().expect("bytes");
                leaves.push(bytes.clone());
                NewLedgerEntry {
                    bytes,
                    time_micros: e.time.unix_micros(),
                    kind: e.kind.as_str().to_owned(),
                    actor: e.actor,
                    details: None,
                }
            })
            .collect();
        let (_, head) = store.ledger_append_batch(batch).await.expect("append");
        next = end;
        // Checkpoints land on batch boundaries at or after the wanted sizes.
        if checkpoints
            .iter()
            .any(|&c| c > head.size.saturating_sub(BATCH) && c <= head.size)
        {
            let note = Checkpoint::new(ORIGIN, head).sign(&key).expect("sign");
            store
                .ledger_add_checkpoint(head.size, note)
                .await
                .expect("checkpoint");
        }
    }
    leaves
}

/// Reads every entry and stored hash the way `audit::verify` pages through them, without
/// hashing or decoding anything.
async fn read_only(store: &Store, size: u64) -> u64 {
    let mut touched = 0u64;
    let mut next = 0;
    while next < size {
        let end = size.min(next + u64::from(READ_PAGE));
        for row in store
            .ledger_entries(next, READ_PAGE)
            .await
            .expect("entries")
        {
            touched += row.bytes.len() as u64;
        }
        let hashes = store
            .ledger_hash_range(stored_hash_count(next), stored_hash_count(end))
            .await
            .expect("hashes");
        touched += hashes.len() as u64;
        next = end;
    }
    touched
}

/// `aigov audit log --kind <kind>`: every matching entry, decoded.
async fn search(store: &Store, size: u64, kind: EntryKind) -> u64 {
    let mut found = 0;
    let mut next = 0;
    while next < size {
        let end = size.min(next + SEARCH_PAGE);
        let rows = store
            .ledger_search(LedgerSearch {
                start: next,
                end,
                kinds: vec![kind.as_str().to_owned()],
                ..LedgerSearch::default()
            })
            .await
            .expect("search");
        for row in rows {
            black_box(Entry::from_canonical_bytes(&row.bytes).expect("decode"));
            found += 1;
        }
        next = end;
    }
    found
}

async fn bench_backend(label: &str, config: &StoreConfig, n: u64) -> Vec<Vec<u8>> {
    let t = Instant::now();
    let store = Store::open(config).await.expect("open");
    let leaves = build(&store, n).await;
    let bytes: usize = leaves.iter().map(Vec::len).sum();
    println!(
        "{label:<8} built {n} entries ({:.0} bytes each on average) and {} checkpoints in {:.1} s",
        bytes as f64 / n as f64,
        store.ledger_checkpoints().await.expect("checkpoints").len(),
        secs(t)
    );
    drop(store);

    let verifier = &signer().verifier();
    let verify = timed(|| async move {
        let t = Instant::now();
        let store = Store::open(config).await.expect("open");
        let report = audit::verify(&store, ORIGIN, verifier)
            .await
            .expect("verify");
        let took = secs(t);
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!((report.entries, report.checkpoints), (n, 5));
        took
    })
    .await;
    report(label, "audit verify (open + verify)", verify, n);

    let store = &Store::open(config).await.expect("open");
    let read = timed(|| async move {
        let t = Instant::now();
        black_box(read_only(store, n).await);
        secs(t)
    })
    .await;
    report(
        label,
        "baseline: read entries + stored hashes only",
        read,
        n,
    );

    for kind in [EntryKind::BreakGlass, EntryKind::PolicyDecision] {
        let found = &Cell::new(0);
        let took = timed(|| async move {
            let t = Instant::now();
            found.set(search(store, n, kind).await);
            secs(t)
        })
        .await;
        report(
            label,
            &format!("audit log --kind {} ({} found)", kind.as_str(), found.get()),
            took,
            n,
        );
    }
    println!(
        "{label:<8} verify / read-only: {:.2}x",
        verify.median / read.median.max(f64::EPSILON)
    );
    leaves
}

/// The same work without a database: recomputing the tree, and decoding every entry.
fn in_memory(leaves: &[Vec<u8>]) {
    let n = leaves.len() as u64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let tree = rt.block_on(timed(|| async move {
        let t = Instant::now();
        let mut v = LogVerifier::new([]);
        for leaf in leaves {
            v.push_entry(leaf);
        }
        black_box(v.root());
        secs(t)
    }));
    report(
        "memory",
        "baseline: LogVerifier (leaf + node hashes)",
        tree,
        n,
    );
    let decode = rt.block_on(timed(|| async move {
        let t = Instant::now();
        for leaf in leaves {
            black_box(Entry::from_canonical_bytes(leaf).expect("decode"));
        }
        secs(t)
    }));
    report("memory", "baseline: Entry::from_canonical_bytes", decode, n);
    let check = rt.block_on(timed(|| async move {
        let t = Instant::now();
        for leaf in leaves {
            black_box(Entry::check_canonical(black_box(leaf))).expect("check");
        }
        secs(t)
    }));
    report(
        "memory",
        "baseline: Entry::check_canonical (what verify runs)",
        check,
        n,
    );
}

/// A throwaway database on the server at `admin_url`, dropped by [`drop_pg_database`].
async fn create_pg_database(admin_url: &str) -> (tokio_postgres::Config, String, StoreConfig) {
    use tokio_postgres::config::Host;
    let admin = tokio_postgres::Config::from_str(admin_url).expect("AIGOV_BENCH_POSTGRES_URL");
    let dbname = format!("aigov_bench_{}", std::process::id());
    let (client, conn) = admin.connect(tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {dbname}"))
        .await
        .expect("create database");
    let user = admin.get_user().unwrap_or("postgres");
    let port = admin.get_ports().first().copied().unwrap_or(5432);
    let url = match admin.get_hosts().first() {
        Some(Host::Unix(p)) => format!(
            "host={} port={port} user={user} dbname={dbname}",
            p.display()
        ),
        Some(Host::Tcp(h)) => format!("host={h} port={port} user={user} dbname={dbname}"),
        None => format!("host=localhost port={port} user={user} dbname={dbname}"),
    };
    let password = admin
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    (admin, dbname, StoreConfig::Postgres { url, password })
}

async fn drop_pg_database(admin: &tokio_postgres::Config, dbname: &str) {
    if let Ok((client, conn)) = admin.connect(tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
            .await;
    }
}

fn main() {
    let n: u64 = std::env::var("AIGOV_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = StoreConfig::Sqlite {
        path: dir.path().join("bench.db"),
    };
    let leaves = rt.block_on(bench_backend("sqlite", &sqlite, n));
    in_memory(&leaves);
    drop(leaves);
    if let Some(url) = std::env::var("AIGOV_BENCH_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        rt.block_on(async {
            let (admin, dbname, config) = create_pg_database(&url).await;
            bench_backend("postgres", &config, n).await;
            drop_pg_database(&admin, &dbname).await;
        });
    }
}
