//! The audit crate's one integration test binary: group-commit appends from many tasks and two
//! "replicas", tamper detection with precise locations, SIGKILL of a writing child process,
//! and key files. Every test runs on SQLite and, when `AIGOV_TEST_POSTGRES_URL` is set, on
//! PostgreSQL (`AIGOV_REQUIRE_POSTGRES=1` turns a missing URL into a failure). `export.rs`:
//! tiles, entry bundles, `tlog-proof`s, export directories and their verification.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use audit::{AuditConfig, AuditLog, Problem, load_or_create_key, verify};
use ledger::{
    Entry, EntryKind, MemTree, NodeId, Outcome, ProofPlan, SignerKey, Timestamp, leaf_hash,
    verify_consistency, verify_inclusion,
};
use store::{LedgerStore, Store, StoreConfig};
use tempfile::TempDir;
use tokio_postgres::NoTls;

#[path = "audit/export.rs"]
mod export;

const PG_URL_ENV: &str = "AIGOV_TEST_POSTGRES_URL";
const PG_REQUIRE_ENV: &str = "AIGOV_REQUIRE_POSTGRES";
const ORIGIN: &str = "aigov.local/test";
const CHILD_SQLITE_ENV: &str = "AIGOV_AUDIT_TEST_CHILD_SQLITE";
const CHILD_PG_ENV: &str = "AIGOV_AUDIT_TEST_CHILD_PG";

fn signer() -> SignerKey {
    SignerKey::from_seed("aigov.local-test", [42; 32]).expect("key")
}

fn entry(writer: usize, n: u64) -> Entry {
    Entry::new(
        EntryKind::PolicyDecision,
        Timestamp::from_unix_micros(1_760_000_000_000_000 + n as i64).expect("time"),
        format!("actor-{writer}"),
        format!("repo:svc-{n}"),
        Outcome::Success,
    )
    .with_field("request_id", format!("req-{writer}-{n}"))
}

fn config() -> AuditConfig {
    AuditConfig {
        checkpoint_interval: None,
        ..AuditConfig::new(ORIGIN)
    }
}

/// One backend for one test; a PostgreSQL database is dropped at the end.
struct TestDb {
    label: &'static str,
    config: StoreConfig,
    _dir: Option<TempDir>,
    pg: Option<(tokio_postgres::Config, String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, dbname, _)) = self.pg.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) = admin.connect(NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

fn note_once(text: &str) {
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{text}");
    });
}

fn pg_admin() -> Option<tokio_postgres::Config> {
    let url = std::env::var(PG_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty());
    let required = std::env::var(PG_REQUIRE_ENV).is_ok_and(|v| v == "1" || v == "true");
    match url {
        Some(url) => {
            note_once(&format!(
                "note: audit tests: also running against PostgreSQL ({PG_URL_ENV})"
            ));
            Some(tokio_postgres::Config::from_str(&url).expect("valid PostgreSQL URL"))
        }
        None if required => {
            panic!("{PG_REQUIRE_ENV}=1 but {PG_URL_ENV} is not set: refusing to skip PostgreSQL")
        }
        None => {
            note_once(&format!(
                "note: audit tests: PostgreSQL backend SKIPPED ({PG_URL_ENV} not set)"
            ));
            None
        }
    }
}

async fn backends() -> Vec<TestDb> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![TestDb {
        label: "sqlite",
        config: StoreConfig::Sqlite {
            path: dir.path().join("aigov.db"),
        },
        _dir: Some(dir),
        pg: None,
    }];
    if let Some(admin) = pg_admin() {
        let dbname = format!(
            "aigov_audit_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (client, conn) = admin.connect(NoTls).await.expect("connect to test server");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {dbname}"))
            .await
            .expect("create database");
        let user = admin.get_user().unwrap_or("postgres");
        let port = admin.get_ports().first().copied().unwrap_or(5432);
        let host = match admin.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "localhost".to_owned(),
        };
        let url = format!("postgres://{user}@{host}:{port}/{dbname}");
        out.push(TestDb {
            label: "postgres",
            config: StoreConfig::Postgres {
                url: url.clone(),
                password: None,
            },
            _dir: None,
            pg: Some((admin, dbname, url)),
        });
    }
    out
}

/// A raw value bound into tamper SQL.
enum Arg {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
}

impl TestDb {
    /// Runs statements without parameters directly on the database, bypassing the store.
    async fn raw_batch(&self, sql: &str) {
        match &self.config {
            StoreConfig::Sqlite { path } => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite open");
                conn.execute_batch(sql).expect("raw sqlite batch");
            }
            StoreConfig::Postgres { url, .. } => {
                let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("raw pg");
                tokio::spawn(conn);
                client.batch_execute(sql).await.expect("raw pg batch");
            }
        }
    }

    /// Runs one statement directly on the database, bypassing the store. Placeholders are
    /// `$1`, `$2`, ... on both backends.
    async fn raw(&self, sql: &str, args: &[Arg]) {
        match &self.config {
            StoreConfig::Sqlite { path } => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite open");
                let params: Vec<Box<dyn rusqlite::ToSql>> = args
                    .iter()
                    .map(|a| -> Box<dyn rusqlite::ToSql> {
                        match a {
                            Arg::Int(i) => Box::new(*i),
                            Arg::Bytes(b) => Box::new(b.clone()),
                            Arg::Text(t) => Box::new(t.clone()),
                        }
                    })
                    .collect();
                let sql = sql.replace('$', "?");
                conn.execute(&sql, rusqlite::params_from_iter(params.iter()))
                    .expect("raw sqlite exec");
            }
            StoreConfig::Postgres { url, .. } => {
                let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("raw pg");
                tokio::spawn(conn);
                let params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync>> = args
                    .iter()
                    .map(|a| -> Box<dyn tokio_postgres::types::ToSql + Sync> {
                        match a {
                            Arg::Int(i) => Box::new(*i),
                            Arg::Bytes(b) => Box::new(b.clone()),
                            Arg::Text(t) => Box::new(t.clone()),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    params.iter().map(|b| b.as_ref()).collect();
                client.execute(sql, &refs).await.expect("raw pg exec");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_two_replicas_are_one_gap_free_log() {
    for db in backends().await {
        let b = db.label;
        // Two independent store handles on one database: two aigov replicas.
        let logs = [
            AuditLog::start(Store::open(&db.config).await.unwrap(), signer(), config()),
            AuditLog::start(Store::open(&db.config).await.unwrap(), signer(), config()),
        ];
        let first = logs[0].checkpoint_now().await.unwrap();
        assert_eq!(first.map(|c| c.size), Some(0), "{b}: empty checkpoint");
        let mut tasks = Vec::new();
        for w in 0..32usize {
            let log = logs[w % 2].clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for n in 0..40u64 {
                    let e = entry(w, n);
                    let index = log.append(&e).await.expect("append");
                    out.push((index, e.to_canonical_bytes().unwrap()));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let indices: Vec<u64> = all.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            indices,
            (0..1280).collect::<Vec<u64>>(),
            "{b}: unique, gap-free"
        );
        let mut mem = MemTree::new();
        for (_, bytes) in &all {
            mem.push_entry(bytes);
        }
        let head = logs[1].head().await.unwrap();
        assert_eq!(head, mem.head(), "{b}: root matches an in-memory tree");
        let cp = logs[1].checkpoint_now().await.unwrap().expect("grew");
        assert_eq!(cp.size, 1280);
        assert!(
            logs[0].checkpoint_now().await.unwrap().is_none(),
            "{b}: no growth"
        );

        // Stored hashes serve proofs: inclusion of entry 777, consistency 0.. -> 1280 etc.
        let store = Store::open(&db.config).await.unwrap();
        let plan = ProofPlan::inclusion(777, head.size).unwrap();
        let hashes = store
            .ledger_read_hashes(plan.nodes().to_vec())
            .await
            .unwrap();
        let proof = plan.finish(&hashes).unwrap();
        verify_inclusion(&leaf_hash(&all[777].1), 777, head.size, &proof, &head.root).unwrap();
        let plan = ProofPlan::consistency(1000, head.size).unwrap();
        let hashes = store
            .ledger_read_hashes(plan.nodes().to_vec())
            .await
            .unwrap();
        let proof = plan.finish(&hashes).unwrap();
        let old = mem.root_at(1000).unwrap();
        verify_consistency(1000, head.size, &old, &head.root, &proof).unwrap();

        let report = verify(&store, ORIGIN, &signer().verifier()).await.unwrap();
        assert!(report.is_ok(), "{b}: {:?}", report.problems);
        assert_eq!(report.entries, 1280);
        assert_eq!(report.checkpoints, 2);
        assert_eq!(report.head, head);

        logs[0].shutdown().await.unwrap();
        let late = logs[0].append(&entry(0, 99)).await;
        assert!(
            matches!(late, Err(audit::AuditError::Closed)),
            "{b}: {late:?}"
        );
    }
}

/// A 100-entry log with checkpoints at sizes 40 (id 1) and 100 (id 2).
async fn small_log(db: &TestDb) -> (Store, Vec<Vec<u8>>) {
    let store = Store::open(&db.config).await.unwrap();
    let log = AuditLog::start(store.clone(), signer(), config());
    let mut bytes = Vec::new();
    for n in 0..100u64 {
        let e = entry(0, n);
        assert_eq!(log.append(&e).await.unwrap(), n);
        bytes.push(e.to_canonical_bytes().unwrap());
        if n == 39 {
            log.checkpoint_now().await.unwrap();
        }
    }
    log.shutdown().await.unwrap();
    let cps = store.ledger_checkpoints().await.unwrap();
    assert_eq!(
        cps.iter().map(|c| (c.id, c.size)).collect::<Vec<_>>(),
        [(1, 40), (2, 100)]
    );
    (store, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_and_located() {
    let key = signer().verifier();
    type Case = (&'static str, fn(&[Vec<u8>]) -> Vec<(String, Vec<Arg>)>);
    let cases: [Case; 7] = [
        ("edit entry 37", |b| {
            // A plausible edit: the entry still decodes, only its subject changed.
            let text = String::from_utf8(b[37].clone()).unwrap();
            assert!(text.contains("svc-37"));
            let e = text.replace("svc-37", "svc-73").into_bytes();
            vec![(
                "UPDATE ledger_entries SET entry = $1 WHERE idx = 37".into(),
                vec![Arg::Bytes(e)],
            )]
        }),
        ("delete entry 20", |_| {
            vec![("DELETE FROM ledger_entries WHERE idx = 20".into(), vec![])]
        }),
        ("swap entries 5 and 9", |b| {
            vec![
                (
                    "UPDATE ledger_entries SET entry = $1 WHERE idx = 5".into(),
                    vec![Arg::Bytes(b[9].clone())],
                ),
                (
                    "UPDATE ledger_entries SET entry = $1 WHERE idx = 9".into(),
                    vec![Arg::Bytes(b[5].clone())],
                ),
            ]
        }),
        ("edit stored hash of level 2 index 3", |_| {
            vec![(
                "UPDATE ledger_hashes SET hash = $1 WHERE sidx = $2".into(),
                vec![
                    Arg::Bytes(vec![7; 32]),
                    Arg::Int(NodeId::new(2, 3).stored_index() as i64),
                ],
            )]
        }),
        ("edit stored leaf hash 61", |_| {
            vec![(
                "UPDATE ledger_hashes SET hash = $1 WHERE sidx = $2".into(),
                vec![
                    Arg::Bytes(vec![9; 32]),
                    Arg::Int(NodeId::leaf(61).stored_index() as i64),
                ],
            )]
        }),
        ("edit checkpoint 1", |_| {
            vec![(
                "UPDATE ledger_checkpoints SET note = replace(note, $1, $2) WHERE id = 1".into(),
                vec![Arg::Text("\n40\n".into()), Arg::Text("\n41\n".into())],
            )]
        }),
        ("edit head root", |_| {
            vec![(
                "UPDATE ledger_head SET root = $1".into(),
                vec![Arg::Bytes(vec![1; 32])],
            )]
        }),
    ];
    for (what, tamper) in cases {
        for db in backends().await {
            let b = db.label;
            let (store, bytes) = small_log(&db).await;
            let clean = verify(&store, ORIGIN, &key).await.unwrap();
            assert!(clean.is_ok(), "{b} {what}: {:?}", clean.problems);
            for (sql, args) in tamper(&bytes) {
                db.raw(&sql, &args).await;
            }
            let r = verify(&store, ORIGIN, &key).await.unwrap();
            assert!(!r.is_ok(), "{b} {what}: not detected");
            let msg = format!("{b} {what}: {:#?}", r.problems);
            match what {
                "edit entry 37" => {
                    assert_eq!(r.bad_entries(), [37], "{msg}");
                    assert_eq!(r.problems[0], Problem::EntryModified { index: 37 }, "{msg}");
                    // The checkpoint at 40 covers entry 37, and so does the one at 100.
                    assert_eq!(r.bad_checkpoints(), [1, 2], "{msg}");
                }
                "delete entry 20" => {
                    assert_eq!(r.problems, [Problem::MissingEntry { index: 20 }], "{msg}");
                }
                "swap entries 5 and 9" => {
                    assert_eq!(r.bad_entries(), [5, 9], "{msg}");
                    assert_eq!(r.bad_checkpoints(), [1, 2], "{msg}");
                }
                "edit stored hash of level 2 index 3" => {
                    assert_eq!(
                        r.problems,
                        [Problem::StoredHashModified {
                            node: NodeId::new(2, 3),
                            stored_index: NodeId::new(2, 3).stored_index()
                        }],
                        "{msg}"
                    );
                }
                "edit stored leaf hash 61" => {
                    // The entry still matches every checkpoint: only the stored hash is off.
                    assert_eq!(r.problems, [Problem::EntryModified { index: 61 }], "{msg}");
                }
                "edit checkpoint 1" => {
                    assert_eq!(r.bad_checkpoints(), [1], "{msg}");
                    assert!(r.bad_entries().is_empty(), "{msg}");
                    assert!(
                        matches!(&r.problems[..], [Problem::CheckpointInvalid { id: 1, .. }]),
                        "{msg}"
                    );
                }
                "edit head root" => {
                    assert!(
                        matches!(&r.problems[..], [Problem::HeadMismatch { .. }]),
                        "{msg}"
                    );
                }
                _ => unreachable!(),
            }
        }
    }
}

/// The child side of `sigkill_loses_no_acknowledged_entry`: appends from 16 tasks forever,
/// printing `ack <index>` after each acknowledged append. Does nothing in a normal run.
#[test]
fn child_writer() {
    let config = if let Ok(path) = std::env::var(CHILD_SQLITE_ENV) {
        StoreConfig::Sqlite { path: path.into() }
    } else if let Ok(url) = std::env::var(CHILD_PG_ENV) {
        StoreConfig::Postgres {
            url,
            password: None,
        }
    } else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Store::open(&config).await.unwrap();
        let log = AuditLog::start(
            store,
            signer(),
            AuditConfig {
                checkpoint_interval: Some(Duration::from_millis(20)),
                ..AuditConfig::new(ORIGIN)
            },
        );
        let mut tasks = Vec::new();
        for w in 0..16usize {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let index = log.append(&entry(w, n)).await.unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {index}").unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_entry() {
    for db in backends().await {
        let b = db.label;
        // Migrate first, so the child starts writing at once.
        drop(Store::open(&db.config).await.unwrap());
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        match &db.config {
            StoreConfig::Sqlite { path } => cmd.env(CHILD_SQLITE_ENV, path),
            StoreConfig::Postgres { url, .. } => cmd.env(CHILD_PG_ENV, url),
        };
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.strip_prefix("ack ").and_then(|i| i.parse().ok()) {
                    let _ = tx.send(i);
                }
            }
        });
        // Kill in the middle of the burst: after some acknowledgements, at a random-ish time.
        let started = Instant::now();
        let mut acked = BTreeSet::new();
        while acked.len() < 3000 && started.elapsed() < Duration::from_secs(30) {
            if let Ok(i) = rx.recv_timeout(Duration::from_millis(50)) {
                acked.insert(i);
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());
        assert!(!status.success(), "{b}: child was killed");
        assert!(
            acked.len() >= 3000,
            "{b}: child acknowledged only {}",
            acked.len()
        );

        let store = Store::open(&db.config).await.unwrap();
        let head = store.ledger_head().await.unwrap();
        let max = *acked.last().unwrap();
        assert!(
            head.size > max,
            "{b}: acknowledged {max} but size is {}",
            head.size
        );
        let report = verify(&store, ORIGIN, &signer().verifier()).await.unwrap();
        assert!(report.is_ok(), "{b}: {:?}", report.problems);
        assert_eq!(report.entries, head.size, "{b}");
        assert!(report.checkpoints > 0, "{b}: checkpoints were written");
        // Every acknowledged index holds an entry (the verifier saw no gap below size).
        let mut present = 0;
        let mut next = 0;
        loop {
            let page = store.ledger_entries(next, 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            next = last.index + 1;
            present += page.iter().filter(|r| acked.contains(&r.index)).count();
        }
        assert_eq!(
            present,
            acked.len(),
            "{b}: every acknowledged entry is stored"
        );
        eprintln!(
            "{b}: killed after {} acknowledged appends; log has {} entries after restart",
            acked.len(),
            head.size
        );
        // The restarted log continues the same sequence.
        let log = AuditLog::start(store.clone(), signer(), config());
        assert_eq!(log.append(&entry(99, 0)).await.unwrap(), head.size, "{b}");
    }
}

#[test]
fn key_file_is_created_once_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    let a = load_or_create_key(&path, "aigov.local-x").unwrap();
    let b = load_or_create_key(&path, "ignored").unwrap();
    assert_eq!(a.verifier(), b.verifier());
    assert_eq!(b.name(), "aigov.local-x");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let c = audit::resolve_key(&format!("file:{}", path.display()), "n").unwrap();
    assert_eq!(a.verifier(), c.verifier());
    let err = audit::resolve_key("plain", "n").unwrap_err().to_string();
    assert!(err.contains("`plain`") && !err.contains("PRIVATE"), "{err}");
}

/// Entries queued without a waiter are committed; while commits fail the log reports itself
/// unhealthy, refuses more queued entries, and retries the ones it holds until they land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_entries_survive_failing_commits() {
    for db in backends().await {
        let label = db.label;
        let store = Store::open(&db.config).await.unwrap();
        let log = AuditLog::start(store.clone(), signer(), config());
        for n in 0..10 {
            log.append_queued(&entry(0, n), None).await.unwrap();
        }
        // A waited append after them is committed after them.
        assert_eq!(log.append(&entry(0, 10)).await.unwrap(), 10, "{label}");
        assert!(log.is_healthy(), "{label}");

        // Make every insert into the ledger fail, as a full disk or a lost database would.
        let (block, unblock) = match label {
            "sqlite" => (
                "CREATE TRIGGER block_ledger BEFORE INSERT ON ledger_entries \
                 BEGIN SELECT RAISE(ABORT, 'blocked by test'); END",
                "DROP TRIGGER block_ledger",
            ),
            _ => (
                "CREATE FUNCTION block_ledger() RETURNS trigger LANGUAGE plpgsql AS \
                 $f$ BEGIN RAISE EXCEPTION 'blocked by test'; END $f$; \
                 CREATE TRIGGER block_ledger BEFORE INSERT ON ledger_entries \
                 FOR EACH ROW EXECUTE FUNCTION block_ledger()",
                "DROP TRIGGER block_ledger ON ledger_entries; DROP FUNCTION block_ledger()",
            ),
        };
        db.raw_batch(block).await;
        // The first failed commit can come before the last of these is queued; from then on
        // the log refuses queued entries. Every one it accepted must land, once.
        let mut accepted = 0;
        for n in 11..15 {
            match log.append_queued(&entry(0, n), None).await {
                Ok(()) => accepted += 1,
                Err(audit::AuditError::Unhealthy) if n > 11 => {}
                Err(e) => panic!("{label}: entry {n}: {e}"),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.is_healthy() {
            assert!(Instant::now() < deadline, "{label}: never unhealthy");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            matches!(
                log.append_queued(&entry(0, 99), None).await,
                Err(audit::AuditError::Unhealthy)
            ),
            "{label}: an unhealthy log must refuse queued entries"
        );
        assert!(log.append(&entry(0, 99)).await.is_err(), "{label}");

        db.raw_batch(unblock).await;
        while !log.is_healthy() {
            assert!(Instant::now() < deadline, "{label}: never recovered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        log.shutdown().await.unwrap();
        let size = store.ledger_head().await.unwrap().size;
        assert_eq!(
            size,
            11 + accepted,
            "{label}: every accepted queued entry is committed, once"
        );
        let report = verify(&store, ORIGIN, &signer().verifier()).await.unwrap();
        assert!(report.problems.is_empty(), "{label}: {:?}", report.problems);
    }
}

/// Group commit: queued entries arriving soon after a commit wait (up to the interval) to
/// share the next transaction; an entry someone waits for is committed at once, with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_entries_are_grouped_and_waiters_are_not_held() {
    for db in backends().await {
        let label = db.label;
        let store = Store::open(&db.config).await.unwrap();
        let interval = Duration::from_millis(800);
        let log = AuditLog::start(
            store.clone(),
            signer(),
            AuditConfig {
                commit_interval: interval,
                ..config()
            },
        );
        // A waited append is committed at once (nothing committed before it).
        let started = Instant::now();
        assert_eq!(log.append(&entry(0, 0)).await.unwrap(), 0, "{label}");
        // Queued entries right after a commit are held back for the rest of the interval…
        for n in 1..6 {
            log.append_queued(&entry(0, n), None).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() < interval / 2 {
            let size = store.ledger_head().await.unwrap().size;
            assert_eq!(
                size, 1,
                "{label}: queued entries should wait for the group commit"
            );
        }
        // …unless someone waits: this append takes them along and returns well before it.
        let waited = Instant::now();
        assert_eq!(log.append(&entry(0, 6)).await.unwrap(), 6, "{label}");
        assert!(
            waited.elapsed() < interval / 2,
            "{label}: a waiter was held {:?} by the group commit",
            waited.elapsed()
        );
        // Queued entries alone are committed within the interval.
        log.append_queued(&entry(0, 7), None).await.unwrap();
        let deadline = Instant::now() + interval * 3;
        while store.ledger_head().await.unwrap().size < 8 {
            assert!(
                Instant::now() < deadline,
                "{label}: a queued entry was never committed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        log.shutdown().await.unwrap();
        let report = verify(&store, ORIGIN, &signer().verifier()).await.unwrap();
        assert!(report.problems.is_empty(), "{label}: {:?}", report.problems);
    }
}
