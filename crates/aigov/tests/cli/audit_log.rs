//! `aigov audit log`: a SQLite ledger seeded through the store API with entries of several
//! kinds, actors, outcomes and times, listed through the binary with every filter, as a table
//! and as JSON lines; bad arguments; a closed pipe.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;

use expect_test::expect;
use ledger::{Decision, Entry, EntryKind, Outcome, Timestamp};
use store::{LedgerStore, NewLedgerEntry, Store, StoreConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{aigov, check, run};

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::new(OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap()).unwrap()
}

/// Appends `entries` to the SQLite ledger at `path` (created if needed).
fn seed(path: &Path, entries: &[Entry]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&StoreConfig::Sqlite {
            path: path.to_owned(),
        })
        .await
        .unwrap();
        let batch = entries
            .iter()
            .map(|e| NewLedgerEntry {
                bytes: e.to_canonical_bytes().unwrap(),
                time_micros: e.time.unix_micros(),
                kind: e.kind.as_str().to_owned(),
                actor: e.actor.clone(),
                details: None,
            })
            .collect();
        store.ledger_append_batch(batch).await.unwrap();
    });
}

/// Six entries over three days; entry 4 has a long subject and an actor with a terminal
/// escape sequence in it.
fn sample() -> Vec<Entry> {
    vec![
        Entry::new(
            EntryKind::PolicyDecision,
            at("2025-01-01T10:00:00.250000Z"),
            "alice",
            "repo:acme/payments-api",
            Outcome::Success,
        )
        .with_decision(Decision::Deny)
        .with_field("policy_id", "no-secrets"),
        Entry::new(
            EntryKind::Authentication,
            at("2025-01-01T11:00:00Z"),
            "bob",
            "token:ci",
            Outcome::Failure,
        ),
        Entry::new(
            EntryKind::BreakGlass,
            at("2025-01-02T09:30:00Z"),
            "carol",
            "env:payments/production",
            Outcome::Success,
        ),
        Entry::new(
            EntryKind::PolicyDecision,
            at("2025-01-02T12:00:00Z"),
            "bob",
            "repo:acme/storefront",
            Outcome::Success,
        )
        .with_decision(Decision::Allow),
        Entry::new(
            EntryKind::GatewayRequest,
            at("2025-01-03T08:00:00Z"),
            "mallory\u{1b}[31m",
            "model:anthropic/claude-sonnet-4-5 via gateway eu-west-1 replica 3",
            Outcome::Success,
        ),
        Entry::new(
            EntryKind::AdminAction,
            at("2025-01-03T09:00:00Z"),
            "alice",
            "token:deploy",
            Outcome::Success,
        ),
    ]
}

/// The INDEX column of a table listing.
fn indexes(dir: &Path, args: &[&str]) -> Vec<u64> {
    let out = run(
        dir,
        &[&["audit", "log", "--db", "ledger.db"], args].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn audit_log_lists_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("data")).unwrap();
    seed(&d.join("data/aigov.db"), &sample());
    std::fs::copy(d.join("data/aigov.db"), d.join("ledger.db")).unwrap();

    // Without --db, the server's database (here from --data-dir); that read is recorded
    // first, as an entry of today (left out by `--until`, counted below).
    check(
        d,
        &[
            "audit",
            "log",
            "--data-dir",
            "data",
            "--until",
            "2026-01-01",
        ],
        expect![[r#"
            exit: 0
            --- stdout
            INDEX  TIME                  KIND             ACTOR              OUTCOME  SUBJECT                                           DECISION
                0  2025-01-01T10:00:00Z  policy_decision  alice              success  repo:acme/payments-api                            deny
                1  2025-01-01T11:00:00Z  authentication   bob                failure  token:ci                                          -
                2  2025-01-02T09:30:00Z  break_glass      carol              success  env:payments/production                           -
                3  2025-01-02T12:00:00Z  policy_decision  bob                success  repo:acme/storefront                              allow
                4  2025-01-03T08:00:00Z  gateway_request  mallory\u{1b}[31m  success  model:anthropic/claude-sonnet-4-5 via gateway e…  -
                5  2025-01-03T09:00:00Z  admin_action     alice              success  token:deploy                                      -
        "#]],
    );

    let out = run(
        d,
        &[
            "audit",
            "log",
            "--data-dir",
            "data",
            "--kind",
            "audit_access",
            "--format",
            "json",
        ],
    );
    let reads = String::from_utf8(out.stdout).unwrap();
    assert_eq!(reads.lines().count(), 2, "both reads are recorded: {reads}");
    assert!(reads.contains("\"audit.log\""), "{reads}");

    let cases: &[(&[&str], &[u64])] = &[
        (&[], &[0, 1, 2, 3, 4, 5]),
        (&["--kind", "break_glass"], &[2]),
        (
            &["--kind", "policy_decision", "--kind", "break-glass"],
            &[0, 2, 3],
        ),
        (&["--actor", "alice"], &[0, 5]),
        (&["--outcome", "failure"], &[1]),
        (&["--outcome", "success", "--actor", "bob"], &[3]),
        // --since is inclusive, --until exclusive; a date is midnight UTC.
        (&["--since", "2025-01-02", "--until", "2025-01-03"], &[2, 3]),
        (&["--since", "2025-01-02T12:00:00Z"], &[3, 4, 5]),
        (&["--until", "2025-01-01T11:00:00+00:00"], &[0]),
        (&["--since", "2025-01-02T13:00:00+02:00"], &[3, 4, 5]),
        (&["--limit", "2"], &[0, 1]),
        (&["--limit", "1", "--kind", "policy_decision"], &[0]),
        (&["--limit", "1", "--outcome", "failure"], &[1]),
        (&["--kind", "policy_decision", "--actor", "bob"], &[3]),
    ];
    for (args, want) in cases {
        assert_eq!(indexes(d, args), *want, "{args:?}");
    }

    // Nothing since an hour ago (the entries are from 2025): no table, a note on stderr.
    check(
        d,
        &["audit", "log", "--db", "ledger.db", "--since", "1h"],
        expect![[r#"
            exit: 0
            --- stderr
            no entries match (the log has 6 entries)
        "#]],
    );
}

#[test]
fn audit_log_json_lines_parse() {
    let dir = tempfile::tempdir().unwrap();
    seed(&dir.path().join("ledger.db"), &sample());
    let out = run(
        dir.path(),
        &[
            "audit",
            "log",
            "--db",
            "ledger.db",
            "--format",
            "json",
            "--since",
            "2025-01-01",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 6);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i as u64);
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "index",
                "version",
                "time",
                "kind",
                "actor",
                "subject",
                "outcome",
                "decision",
                "origin",
                "payload_sha256",
                "fields"
            ],
            "every line has every key, in the same order"
        );
    }
    assert_eq!(
        lines[0],
        serde_json::json!({
            "index": 0,
            "version": 1,
            "time": "2025-01-01T10:00:00.250000Z",
            "kind": "policy_decision",
            "actor": "alice",
            "subject": "repo:acme/payments-api",
            "outcome": "success",
            "decision": "deny",
            "origin": { "host": null, "ip": null, "replica": null },
            "payload_sha256": null,
            "fields": { "policy_id": "no-secrets" },
        })
    );
    assert_eq!(
        lines[4]["actor"], "mallory\u{1b}[31m",
        "JSON keeps the exact text"
    );
    assert_eq!(lines[1]["outcome"], "failure");
    assert_eq!(lines[1]["decision"], serde_json::Value::Null);
}

#[test]
fn audit_log_rejects_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(&d.join("ledger.db"), &sample());
    check(
        d,
        &[
            "audit",
            "log",
            "--db",
            "ledger.db",
            "--kind",
            "polcy_decision",
        ],
        expect![[r#"
            exit: 2
            --- stderr
            error: invalid value 'polcy_decision' for '--kind <KIND>': unknown kind; did you mean `policy_decision`? valid kinds: gateway_request, policy_decision, bundle_change, review, approval, deployment, break_glass, alert, admin_action, authentication, credential_change, audit_access, audit_lifecycle, key_rotation, scan, change

            For more information, try '--help'.
        "#]],
    );
    check(
        d,
        &["audit", "log", "--db", "ledger.db", "--since", "yesterday"],
        expect![[r#"
            exit: 2
            --- stderr
            error: invalid value 'yesterday' for '--since <T>': expected RFC 3339 (`2025-01-02T15:04:05Z`), a date (`2025-01-02`, midnight UTC) or an age before now (`30s`, `15m`, `2h`, `7d`, `2w`)

            For more information, try '--help'.
        "#]],
    );
    check(
        d,
        &[
            "audit",
            "log",
            "--db",
            "ledger.db",
            "--since",
            "2025-01-03",
            "--until",
            "2025-01-02",
        ],
        expect![[r#"
            exit: 2
            --- stderr
            error: `--since` (2025-01-03T00:00:00Z) must be before `--until` (2025-01-02T00:00:00Z)
        "#]],
    );
    // A listing never creates a database.
    check(
        d,
        &["audit", "log", "--db", "missing.db"],
        expect![[r#"
            exit: 2
            --- stderr
            error: no database at `missing.db`: nothing has been logged there (check the path)
        "#]],
    );
    assert!(!d.join("missing.db").exists());
    let out = run(
        d,
        &["audit", "log", "--db", "ledger.db", "--data-dir", "data"],
    );
    assert_eq!(out.status.code(), Some(2), "--db excludes --data-dir");
}

#[test]
fn audit_log_stops_quietly_when_the_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..5000)
        .map(|i| {
            Entry::new(
                EntryKind::PolicyDecision,
                Timestamp::from_unix_micros(1_735_700_000_000_000 + i * 1_000_000).unwrap(),
                format!("user-{}", i % 7),
                format!("repo:acme/service-{i}"),
                Outcome::Success,
            )
        })
        .collect();
    seed(&dir.path().join("ledger.db"), &entries);
    for format in ["table", "json"] {
        // `aigov audit log | head -1`
        let mut child = aigov(dir.path())
            .args(["audit", "log", "--db", "ledger.db", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{format}");
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{format}: no panic, no error, no progress bar off a terminal"
        );
    }
}
