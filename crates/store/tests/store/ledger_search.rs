//! Ledger reads for `audit log` and `audit verify`: every search filter (index range, time
//! bounds, actor, kinds, limit) alone and combined, checked against a plain in-memory filter
//! of the same entries; the time span that narrows a time-filtered scan; paged reads of stored
//! hashes with missing and malformed ones.

use ledger::stored_hash_count;
use ledger::{Entry, EntryKind, Outcome, Timestamp};
use store::{LedgerSearch, LedgerStore, NewLedgerEntry, Store, StoreError};

use crate::common::backends;

const T0: i64 = 1_750_000_000_000_000;
const MINUTE: i64 = 60_000_000;

/// Entry `i`: kinds cycle over three, actors over two, one minute apart, except entry 30,
/// whose clock was an hour behind (event times only roughly follow the index).
fn seed(i: u64) -> NewLedgerEntry {
    let kind = [
        EntryKind::PolicyDecision,
        EntryKind::Authentication,
        EntryKind::BreakGlass,
    ][(i % 3) as usize];
    let actor = if i.is_multiple_of(2) { "alice" } else { "bob" };
    let mut micros = T0 + i as i64 * MINUTE;
    if i == 30 {
        micros -= 60 * MINUTE;
    }
    let e = Entry::new(
        kind,
        Timestamp::from_unix_micros(micros).expect("time"),
        actor,
        format!("repo:svc-{i}"),
        Outcome::Success,
    );
    NewLedgerEntry {
        bytes: e.to_canonical_bytes().expect("bytes"),
        time_micros: micros,
        kind: kind.as_str().to_owned(),
        actor: actor.to_owned(),
        details: None,
    }
}

/// The indexes `search` should return, by filtering the seeded entries in memory.
fn expected(all: &[NewLedgerEntry], s: &LedgerSearch) -> Vec<u64> {
    let hits = (0..all.len() as u64)
        .filter(|&i| i >= s.start && i < s.end)
        .filter(|&i| {
            let e = &all[i as usize];
            s.since_micros.is_none_or(|t| e.time_micros >= t)
                && s.until_micros.is_none_or(|t| e.time_micros < t)
                && s.actor.as_ref().is_none_or(|a| *a == e.actor)
                && (s.kinds.is_empty() || s.kinds.contains(&e.kind))
        });
    match s.limit {
        0 => hits.collect(),
        n => hits.take(n as usize).collect(),
    }
}

async fn found(store: &Store, s: &LedgerSearch) -> Vec<u64> {
    let rows = store.ledger_search(s.clone()).await.expect("search");
    rows.iter().map(|r| r.index).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_filters_match_an_in_memory_filter() {
    const N: u64 = 60;
    let all: Vec<NewLedgerEntry> = (0..N).map(seed).collect();
    let full = LedgerSearch {
        start: 0,
        end: N,
        ..LedgerSearch::default()
    };
    let cases: Vec<(&str, LedgerSearch)> = vec![
        ("everything", full.clone()),
        (
            "index range",
            LedgerSearch {
                start: 10,
                end: 20,
                ..full.clone()
            },
        ),
        (
            "end beyond the log",
            LedgerSearch {
                start: 55,
                end: u64::MAX,
                ..full.clone()
            },
        ),
        (
            "one kind",
            LedgerSearch {
                kinds: vec!["break_glass".into()],
                ..full.clone()
            },
        ),
        (
            "two kinds",
            LedgerSearch {
                kinds: vec!["break_glass".into(), "authentication".into()],
                ..full.clone()
            },
        ),
        (
            "a kind with no entries",
            LedgerSearch {
                kinds: vec!["scan".into()],
                ..full.clone()
            },
        ),
        (
            "actor",
            LedgerSearch {
                actor: Some("bob".into()),
                ..full.clone()
            },
        ),
        (
            "since is inclusive",
            LedgerSearch {
                since_micros: Some(T0 + 40 * MINUTE),
                ..full.clone()
            },
        ),
        (
            "until is exclusive",
            LedgerSearch {
                until_micros: Some(T0 + 5 * MINUTE),
                ..full.clone()
            },
        ),
        (
            "time window holding the late entry",
            LedgerSearch {
                since_micros: Some(T0 - 30 * MINUTE - 1),
                until_micros: Some(T0 - 30 * MINUTE + 1),
                ..full.clone()
            },
        ),
        (
            "limit takes the first matches",
            LedgerSearch {
                actor: Some("alice".into()),
                limit: 4,
                ..full.clone()
            },
        ),
        (
            "everything combined",
            LedgerSearch {
                start: 3,
                end: 50,
                since_micros: Some(T0 + 6 * MINUTE),
                until_micros: Some(T0 + 45 * MINUTE),
                actor: Some("alice".into()),
                kinds: vec!["policy_decision".into(), "break_glass".into()],
                limit: 5,
            },
        ),
        (
            "empty range",
            LedgerSearch {
                start: 20,
                end: 20,
                ..full.clone()
            },
        ),
    ];

    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        assert!(found(&store, &full).await.is_empty(), "{b}: empty log");
        // Three batches, so the search spans rows from several transactions.
        for chunk in all.chunks(25) {
            store
                .ledger_append_batch(chunk.to_vec())
                .await
                .expect("append");
        }
        for (name, search) in &cases {
            let want = expected(&all, search);
            assert_eq!(found(&store, search).await, want, "{b}: {name}");
        }
        // Rows come back with the bytes that were appended.
        let rows = store
            .ledger_search(LedgerSearch {
                start: 7,
                end: 9,
                ..full.clone()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{b}");
        assert_eq!(rows[0].bytes, all[7].bytes, "{b}");
        assert_eq!(rows[1].bytes, all[8].bytes, "{b}");
        // Sanity of the fixture: the cases above are not all trivially empty or full.
        assert_eq!(expected(&all, &cases[3].1).len(), 20);
        assert_eq!(expected(&all, &cases[11].1), [6, 8, 12, 14, 18]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn time_span_covers_every_entry_in_the_time_range() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        assert_eq!(
            store.ledger_time_span(None, None).await.unwrap(),
            None,
            "{b}: empty log"
        );
        store
            .ledger_append_batch((0..60).map(seed).collect())
            .await
            .expect("append");
        let span = |since: Option<i64>, until: Option<i64>| {
            let store = store.clone();
            async move { store.ledger_time_span(since, until).await.unwrap() }
        };
        assert_eq!(span(None, None).await, Some(0..60), "{b}");
        assert_eq!(
            span(Some(T0 + 40 * MINUTE), None).await,
            Some(40..60),
            "{b}: since is inclusive"
        );
        assert_eq!(
            span(None, Some(T0 + 5 * MINUTE)).await,
            Some(0..31),
            "{b}: until is exclusive, and the late entry 30 widens the span"
        );
        assert_eq!(
            span(Some(T0 + 10 * MINUTE), Some(T0 + 20 * MINUTE)).await,
            Some(10..20),
            "{b}"
        );
        assert_eq!(
            span(Some(T0 + 100 * MINUTE), None).await,
            None,
            "{b}: after the last entry"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hash_range_skips_missing_hashes_and_rejects_malformed_ones() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        store
            .ledger_append_batch((0..8).map(seed).collect())
            .await
            .expect("append");
        let total = stored_hash_count(8);
        let all = store.ledger_hash_range(0, total).await.unwrap();
        assert_eq!(
            all.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..total).collect::<Vec<_>>(),
            "{b}"
        );
        assert_eq!(
            store.ledger_hash_range(5, 9).await.unwrap(),
            all[5..9].to_vec(),
            "{b}: a sub-range"
        );
        assert!(
            store.ledger_hash_range(9, 9).await.unwrap().is_empty(),
            "{b}"
        );

        db.exec_raw("DELETE FROM ledger_hashes WHERE sidx = 3")
            .await;
        let mut want = all.clone();
        want.remove(3);
        assert_eq!(
            store.ledger_hash_range(0, total).await.unwrap(),
            want,
            "{b}: a missing hash is skipped"
        );

        // Only PostgreSQL lets the length check be dropped (SQLite's is in the table).
        if b == "postgres" {
            db.exec_raw(
                "ALTER TABLE ledger_hashes DROP CONSTRAINT ledger_hashes_hash_check;
                 UPDATE ledger_hashes SET hash = substring(hash from 2) WHERE sidx = 5",
            )
            .await;
            let err = store.ledger_hash_range(0, total).await.unwrap_err();
            assert!(
                matches!(&err, StoreError::InvalidData(m) if m.contains("31 bytes")),
                "{b}: {err}"
            );
        }
    }
}
