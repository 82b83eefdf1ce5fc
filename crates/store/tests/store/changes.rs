//! Webhook deliveries and change records: insert-once by (forge, delivery id) also under
//! concurrency from two handles, claims in arrival order with one claimant at a time (leases),
//! finishing with records in one transaction, refusing a finish whose claim was taken over.

use std::time::Duration;

use store::{
    ChangeStore, DeliveryCounts, DeliveryInsert, DeliveryOutcome, DeliveryState, FinishedBatch,
    NewDelivery, Store, StoreError, StoredBranch, StoredChangeRecord, normalize_time,
};
use time::OffsetDateTime;

use crate::common::backends;

fn delivery(forge: &str, id: &str, body: &str) -> NewDelivery {
    NewDelivery {
        forge: forge.to_owned(),
        delivery_id: id.to_owned(),
        event: "pull_request".to_owned(),
        received_at: OffsetDateTime::now_utc(),
        body: body.as_bytes().to_vec(),
    }
}

fn outcome(id: i64, state: DeliveryState, error: Option<&str>) -> DeliveryOutcome {
    DeliveryOutcome {
        id,
        state,
        error: error.map(str::to_owned),
    }
}

fn record(repo: &str, number: u64, title: &str) -> StoredChangeRecord {
    StoredChangeRecord {
        forge: "github".to_owned(),
        repo: repo.to_owned(),
        number,
        record: serde_json::json!({ "title": title, "number": number, "nested": { "b": 1, "a": [1, 2] } }),
        updated_at: normalize_time(OffsetDateTime::now_utc()),
    }
}

fn batch(records: Vec<StoredChangeRecord>) -> FinishedBatch {
    FinishedBatch {
        records,
        branches: Vec::new(),
    }
}

fn branch(name: &str, commits: serde_json::Value) -> StoredBranch {
    StoredBranch {
        forge: "github".to_owned(),
        repo: "octo/hello".to_owned(),
        branch: name.to_owned(),
        commits,
        updated_at: normalize_time(OffsetDateTime::now_utc()),
    }
}

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn branch_commits_are_kept_replaced_and_dropped_with_the_batch() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let ids = store
            .insert_deliveries(vec![
                delivery("github", "p1", "{}"),
                delivery("github", "p2", "{}"),
            ])
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        let claimed = store.claim_deliveries("a".into(), 10, LEASE).await.unwrap();
        let one = serde_json::json!([{ "sha": "a1" }]);
        let two = serde_json::json!([{ "sha": "a1" }, { "sha": "a2" }]);
        store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(claimed[0].id, DeliveryState::Processed, None)],
                FinishedBatch {
                    records: Vec::new(),
                    branches: vec![branch("feature", one), branch("fix", two.clone())],
                },
            )
            .await
            .unwrap();
        let kept = store.branch_commits("github", "octo/hello").await.unwrap();
        let names: Vec<(&str, &serde_json::Value)> = kept
            .iter()
            .map(|k| (k.branch.as_str(), &k.commits))
            .collect();
        assert_eq!(names.len(), 2, "{b}");
        assert_eq!(names[1], ("fix", &two), "{b}");
        assert!(
            store
                .branch_commits("gitlab", "octo/hello")
                .await
                .unwrap()
                .is_empty()
        );
        // An empty list drops the branch; another is replaced.
        store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(claimed[1].id, DeliveryState::Processed, None)],
                FinishedBatch {
                    records: Vec::new(),
                    branches: vec![
                        branch("feature", serde_json::json!([])),
                        branch("fix", serde_json::json!([{ "sha": "b1" }])),
                    ],
                },
            )
            .await
            .unwrap();
        let kept = store.branch_commits("github", "octo/hello").await.unwrap();
        assert_eq!(kept.len(), 1, "{b}");
        assert_eq!(
            (kept[0].branch.as_str(), &kept[0].commits),
            ("fix", &serde_json::json!([{ "sha": "b1" }])),
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_are_stored_once_and_claimed_in_order() {
    use DeliveryInsert::{Duplicate, Inserted};
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        assert_eq!(
            store.delivery_counts().await.unwrap(),
            DeliveryCounts::default()
        );
        assert_eq!(store.insert_deliveries(Vec::new()).await.unwrap(), []);
        let inserted = store
            .insert_deliveries(vec![
                delivery("github", "d1", "{\"n\":1}"),
                delivery("github", "d2", "{\"n\":2}"),
                // Same id, other forge: another delivery.
                delivery("gitlab", "d1", "{\"n\":3}"),
                // Same key twice in one batch: the second is a duplicate.
                delivery("github", "d2", "{\"n\":4}"),
            ])
            .await
            .unwrap();
        assert_eq!(inserted, [Inserted, Inserted, Inserted, Duplicate], "{b}");
        let again = store
            .insert_deliveries(vec![
                delivery("github", "d1", "changed"),
                delivery("github", "d3", "{\"n\":5}"),
            ])
            .await
            .unwrap();
        assert_eq!(again, [Duplicate, Inserted], "{b}");

        let stored = store
            .webhook_delivery("github", "d1")
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            (
                stored.state,
                stored.body_bytes,
                stored.error,
                stored.processed_at
            ),
            (DeliveryState::Pending, 7, None, None),
            "{b}: the first body is kept"
        );
        assert!(
            store
                .webhook_delivery("github", "nope")
                .await
                .unwrap()
                .is_none()
        );

        // Another claimant waits while the first holds claims on pending deliveries.
        let first = store
            .claim_deliveries("a".to_owned(), 2, LEASE)
            .await
            .unwrap();
        let ids: Vec<&str> = first.iter().map(|d| d.delivery_id.as_str()).collect();
        assert_eq!(ids, ["d1", "d2"], "{b}: arrival order");
        assert_eq!(first[0].body, b"{\"n\":1}", "{b}");
        assert_eq!(first[1].forge, "github");
        assert!(
            store
                .claim_deliveries("b".to_owned(), 10, LEASE)
                .await
                .unwrap()
                .is_empty(),
            "{b}: one claimant at a time"
        );
        // The same claimant gets its claimed deliveries again, and more.
        let retry = store
            .claim_deliveries("a".to_owned(), 10, LEASE)
            .await
            .unwrap();
        assert_eq!(retry.len(), 4, "{b}");
        assert_eq!(retry[..2], first[..], "{b}");

        store
            .finish_deliveries(
                "a".to_owned(),
                vec![
                    outcome(retry[0].id, DeliveryState::Processed, None),
                    outcome(retry[1].id, DeliveryState::Ignored, None),
                    outcome(retry[2].id, DeliveryState::Failed, Some("bad `json`")),
                ],
                batch(vec![
                    record("octo/hello", 2, "first"),
                    record("octo/hello", 1, "one"),
                ]),
            )
            .await
            .expect("finish");
        assert_eq!(
            store.delivery_counts().await.unwrap(),
            DeliveryCounts {
                pending: 1,
                processed: 1,
                ignored: 1,
                failed: 1
            },
            "{b}"
        );
        let failed = store
            .webhook_delivery(&retry[2].forge, &retry[2].delivery_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.state, DeliveryState::Failed);
        assert_eq!(failed.error.as_deref(), Some("bad `json`"));
        assert!(failed.processed_at.is_some());

        // A finished delivery cannot be finished again.
        let err = store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(retry[0].id, DeliveryState::Processed, None)],
                batch(vec![record("octo/hello", 2, "never")]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ClaimLost { count: 1 }),
            "{b}: {err}"
        );
        let err = store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(retry[3].id, DeliveryState::Pending, None)],
                FinishedBatch::default(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`pending`"), "{b}: {err}");

        // Records: saved, replaced, read back equal (PostgreSQL's jsonb reorders keys).
        let all = store.change_records("github", "octo/hello").await.unwrap();
        let titles: Vec<(u64, &str)> = all
            .iter()
            .map(|r| (r.number, r.record["title"].as_str().unwrap()))
            .collect();
        assert_eq!(titles, [(1, "one"), (2, "first")], "{b}: by number");
        assert_eq!(
            all[1],
            record("octo/hello", 2, "first").clone_with(all[1].updated_at)
        );
        assert!(
            store
                .change_records("gitlab", "octo/hello")
                .await
                .unwrap()
                .is_empty()
        );
        let last = store
            .claim_deliveries("a".to_owned(), 10, LEASE)
            .await
            .unwrap();
        assert_eq!(last.len(), 1);
        store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(last[0].id, DeliveryState::Processed, None)],
                batch(vec![
                    record("octo/hello", 2, "second"),
                    // The same record twice in one call: the last one is saved.
                    record("octo/hello", 2, "third"),
                ]),
            )
            .await
            .expect("finish");
        let two = store
            .change_record("github", "octo/hello", 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(two.record["title"], "third", "{b}");
        assert!(
            store
                .change_record("github", "octo/hello", 3)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.delivery_counts().await.unwrap().pending, 0);
        assert!(
            store
                .claim_deliveries("b".to_owned(), 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

trait CloneWith {
    fn clone_with(&self, at: OffsetDateTime) -> Self;
}

impl CloneWith for StoredChangeRecord {
    fn clone_with(&self, at: OffsetDateTime) -> Self {
        StoredChangeRecord {
            updated_at: at,
            ..self.clone()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_claim_is_taken_over_and_the_old_claimant_cannot_finish() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        store
            .insert_deliveries(vec![delivery("github", "x1", "{}")])
            .await
            .unwrap();
        let a = store
            .claim_deliveries("a".to_owned(), 10, Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(a.len(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b_claim = store
            .claim_deliveries("b".to_owned(), 10, LEASE)
            .await
            .unwrap();
        assert_eq!(b_claim, a, "{b}: taken over after the lease");
        let err = store
            .finish_deliveries(
                "a".to_owned(),
                vec![outcome(a[0].id, DeliveryState::Processed, None)],
                batch(vec![record("octo/hello", 9, "lost")]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ClaimLost { count: 1 }),
            "{b}: {err}"
        );
        assert!(
            store
                .change_record("github", "octo/hello", 9)
                .await
                .unwrap()
                .is_none(),
            "{b}: nothing written"
        );
        store
            .finish_deliveries(
                "b".to_owned(),
                vec![outcome(a[0].id, DeliveryState::Processed, None)],
                FinishedBatch::default(),
            )
            .await
            .expect("the new claimant finishes");
    }
}

/// Two handles (two replicas) store overlapping deliveries concurrently: each is stored once
/// and reported `Inserted` exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_store_each_delivery_once() {
    for db in backends().await {
        let b = db.label;
        let one = Store::open(&db.config).await.expect("open");
        let two = Store::open(&db.config).await.expect("open again");
        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = if t % 2 == 0 { one.clone() } else { two.clone() };
            tasks.push(tokio::spawn(async move {
                let mut inserted = 0;
                for i in 0..25 {
                    // Every task sends the same 25 ids, in different batch shapes.
                    let batch: Vec<NewDelivery> = (0..=(t % 3))
                        .map(|k| delivery("github", &format!("c{}", (i + k) % 25), "{}"))
                        .collect();
                    for r in s.insert_deliveries(batch).await.unwrap() {
                        if r == DeliveryInsert::Inserted {
                            inserted += 1;
                        }
                    }
                }
                inserted
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, 25, "{b}");
        assert_eq!(one.delivery_counts().await.unwrap().pending, 25, "{b}");
    }
}
