//! Event log: append, filters, paging, gap-free ids under concurrency, time and JSON round-trips.

use std::collections::BTreeSet;

use serde_json::json;
use store::{EventQuery, EventRecord, EventStore, NewEvent, Store, normalize_time};
use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::common::backends;

fn event(kind: &str, actor: &str, at: OffsetDateTime, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        kind: kind.to_owned(),
        actor: actor.to_owned(),
        subject: format!("subject-of-{kind}"),
        outcome: "success".to_owned(),
        at,
        payload,
    }
}

fn ids(events: &[EventRecord]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_and_filter() {
    let t0 = datetime!(2025-03-01 12:00:00 UTC);
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        assert!(
            store
                .list_events(EventQuery::default())
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );

        // 6 events: kinds alternate a/b, actors x,x,y,y,z,z, one minute apart.
        let actors = ["x", "x", "y", "y", "z", "z"];
        for (i, actor) in actors.iter().enumerate() {
            let kind = if i % 2 == 0 {
                "bundle.loaded"
            } else {
                "policy.decision"
            };
            let rec = store
                .append_event(event(
                    kind,
                    actor,
                    t0 + Duration::minutes(i as i64),
                    json!({ "i": i }),
                ))
                .await
                .expect("append");
            assert_eq!(rec.id, i as i64 + 1, "{b}: ids start at 1 and are gap-free");
            assert_eq!(rec.kind, kind);
            assert_eq!(rec.actor, *actor);
            assert_eq!(rec.subject, format!("subject-of-{kind}"));
            assert_eq!(rec.outcome, "success");
            assert_eq!(rec.payload, json!({ "i": i }));
        }

        let all = store.list_events(EventQuery::default()).await.unwrap();
        assert_eq!(ids(&all), [1, 2, 3, 4, 5, 6], "{b}: oldest first");
        assert_eq!(all[3].actor, "y");
        assert_eq!(all[3].kind, "policy.decision");
        assert_eq!(all[3].at, t0 + Duration::minutes(3), "{b}");

        let q = |f: fn(&mut EventQuery)| {
            let mut q = EventQuery::default();
            f(&mut q);
            q
        };
        let by_kind = store
            .list_events(q(|q| q.kind = Some("policy.decision".into())))
            .await
            .unwrap();
        assert_eq!(ids(&by_kind), [2, 4, 6], "{b}: kind filter");
        let by_actor = store
            .list_events(q(|q| q.actor = Some("y".into())))
            .await
            .unwrap();
        assert_eq!(ids(&by_actor), [3, 4], "{b}: actor filter");
        let since = store
            .list_events(q(|q| q.since = Some(datetime!(2025-03-01 12:02:00 UTC))))
            .await
            .unwrap();
        assert_eq!(ids(&since), [3, 4, 5, 6], "{b}: since is inclusive");
        // Same instant in another offset selects the same rows.
        let since_offset = store
            .list_events(q(|q| q.since = Some(datetime!(2025-03-01 14:02:00 +02:00))))
            .await
            .unwrap();
        assert_eq!(
            ids(&since_offset),
            [3, 4, 5, 6],
            "{b}: since honours the offset"
        );
        let after = store
            .list_events(q(|q| q.after_id = Some(4)))
            .await
            .unwrap();
        assert_eq!(ids(&after), [5, 6], "{b}: after_id is exclusive");
        let limited = store.list_events(q(|q| q.limit = 2)).await.unwrap();
        assert_eq!(ids(&limited), [1, 2], "{b}: limit keeps the oldest");
        let combined = store
            .list_events(EventQuery {
                kind: Some("bundle.loaded".into()),
                actor: Some("z".into()),
                since: Some(t0),
                after_id: Some(1),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(ids(&combined), [5], "{b}: filters combine");
        let none = store
            .list_events(q(|q| q.kind = Some("nope".into())))
            .await
            .unwrap();
        assert!(none.is_empty(), "{b}");

        // Paging with after_id + limit walks everything exactly once.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_events(EventQuery {
                    after_id: cursor,
                    limit: 4,
                    ..Default::default()
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|e| e.id);
            seen.extend(ids(&page));
        }
        assert_eq!(seen, [1, 2, 3, 4, 5, 6], "{b}: paging");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_limit_is_100() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        for i in 0..130 {
            store
                .append_event(event("k", "a", OffsetDateTime::now_utc(), json!(i)))
                .await
                .expect("append");
        }
        let page = store.list_events(EventQuery::default()).await.unwrap();
        assert_eq!(page.len(), 100, "{b}: limit 0 means 100");
        assert_eq!(page.first().map(|e| e.id), Some(1), "{b}");
        let big = store
            .list_events(EventQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(big.len(), 130, "{b}: explicit limit above 100");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_gap_free() {
    const TASKS: i64 = 32;
    const PER_TASK: i64 = 50;
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");

        // A reader follows the log while writers append: it must never observe a gap, i.e. ids
        // become visible in increasing order.
        let follower = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut last = 0i64;
                while last < TASKS * PER_TASK {
                    let page = store
                        .list_events(EventQuery {
                            after_id: Some(last),
                            limit: 500,
                            ..Default::default()
                        })
                        .await
                        .expect("follow");
                    for e in &page {
                        assert_eq!(e.id, last + 1, "follower saw a gap");
                        last = e.id;
                    }
                    tokio::task::yield_now().await;
                }
                last
            })
        };

        let mut writers = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..PER_TASK {
                    let rec = store
                        .append_event(event(
                            "load",
                            &format!("task-{t}"),
                            OffsetDateTime::now_utc(),
                            json!({ "t": t, "i": i }),
                        ))
                        .await
                        .expect("append");
                    got.push(rec.id);
                }
                got
            }));
        }
        let mut returned = Vec::new();
        for w in writers {
            let got = w.await.expect("writer task");
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "{b}: a task's ids increase"
            );
            returned.extend(got);
        }
        returned.sort_unstable();
        let expected: Vec<i64> = (1..=TASKS * PER_TASK).collect();
        assert_eq!(returned, expected, "{b}: returned ids are exactly 1..=1600");
        assert_eq!(follower.await.expect("follower"), TASKS * PER_TASK, "{b}");

        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_events(EventQuery {
                    after_id: cursor,
                    limit: 700,
                    ..Default::default()
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(last.id);
            all.extend(page);
        }
        assert_eq!(ids(&all), expected, "{b}: stored ids are exactly 1..=1600");
        let payloads: BTreeSet<(i64, i64)> = all
            .iter()
            .map(|e| {
                (
                    e.payload["t"].as_i64().unwrap(),
                    e.payload["i"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            payloads.len() as i64,
            TASKS * PER_TASK,
            "{b}: every payload present once"
        );
        for e in &all {
            assert_eq!(
                e.actor,
                format!("task-{}", e.payload["t"]),
                "{b}: row fields belong together"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn times_round_trip() {
    let times = [
        datetime!(2025-06-30 23:59:59.999_999_999 -07:00),
        datetime!(2024-02-29 12:34:56.123_456 +05:30),
        datetime!(1970-01-01 00:00:00 UTC),
        datetime!(1969-12-31 23:59:59.000_001 UTC),
        datetime!(2999-12-31 23:59:59.999_999 UTC),
        OffsetDateTime::now_utc(),
        OffsetDateTime::now_utc().to_offset(UtcOffset::from_hms(-3, -30, 0).unwrap()),
    ];
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        for t in times {
            let expected = normalize_time(t);
            assert_eq!(expected.nanosecond() % 1000, 0);
            assert!(
                t - expected < Duration::microseconds(1) && t >= expected,
                "truncates, not rounds"
            );
            let rec = store
                .append_event(event("t", "a", t, json!(null)))
                .await
                .expect("append");
            assert_eq!(
                rec.at, expected,
                "{b}: returned time is truncated to micros"
            );
            let back = store
                .list_events(EventQuery {
                    after_id: Some(rec.id - 1),
                    limit: 1,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(back.len(), 1);
            assert_eq!(back[0].at, expected, "{b}: {t} round-trips");
            assert_eq!(back[0].at.offset(), UtcOffset::UTC, "{b}: read back as UTC");
            // `since` equal to the stored instant includes it.
            let since = store
                .list_events(EventQuery {
                    since: Some(t),
                    after_id: Some(rec.id - 1),
                    limit: 1,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(
                ids(&since),
                [rec.id],
                "{b}: since == at is inclusive for {t}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payload_json_round_trip() {
    let payloads = [
        json!({
            "bundle": { "name": "default", "version": 3, "rules": ["a", "b", { "nested": [1, 2.5, -7] }] },
            "unicode": "ünïcødé ✓ 🚀 \"quoted\" \\ back\nslash",
            "big": i64::MAX,
            "unsigned": u64::MAX,
            "negative": i64::MIN,
            "float": 0.1,
            "flags": [true, false, null],
            "empty": {},
            "empty_list": [],
            "empty_string": ""
        }),
        json!([1, "two", { "three": 3 }]),
        json!("just a string"),
        json!(42),
        json!(null),
        json!({}),
    ];
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        for p in &payloads {
            store
                .append_event(event("p", "a", OffsetDateTime::now_utc(), p.clone()))
                .await
                .expect("append");
        }
        let back: Vec<serde_json::Value> = store
            .list_events(EventQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.payload)
            .collect();
        assert_eq!(back, payloads, "{b}: payloads round-trip");
    }
}
