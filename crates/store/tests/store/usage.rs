//! Budget counters: batched upsert-add in one transaction, totals for a set of counters,
//! pruning of ended windows; concurrent writers through two store handles.

use store::{Store, UsageDelta, UsageKey, UsageStore, UsageTotals};

use crate::common::backends;

fn key(scope: &str, window_start: i64) -> UsageKey {
    UsageKey {
        scope: scope.to_owned(),
        window_start,
    }
}

fn delta(scope: &str, window_start: i64, requests: u64, tokens: u64, cost: u64) -> UsageDelta {
    UsageDelta {
        key: key(scope, window_start),
        window_end: window_start + 60,
        add: UsageTotals {
            requests,
            tokens,
            cost_micro_usd: cost,
        },
    }
}

fn totals(requests: u64, tokens: u64, cost_micro_usd: u64) -> UsageTotals {
    UsageTotals {
        requests,
        tokens,
        cost_micro_usd,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_counters_add_up() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let keys = vec![
            key("a|minute|developer=alice", 60),
            key("b|day|", 0),
            key("a|minute|developer=alice", 120),
        ];
        assert_eq!(
            store.usage_totals(keys.clone()).await.unwrap(),
            [UsageTotals::default(); 3],
            "{b}: never written counters are zero"
        );
        store.usage_add(Vec::new()).await.expect("empty batch");
        store
            .usage_add(vec![
                delta("a|minute|developer=alice", 60, 1, 100, 5),
                delta("b|day|", 0, 2, 0, 0),
                // Same key twice in one batch: summed.
                delta("a|minute|developer=alice", 60, 1, 50, 1),
            ])
            .await
            .expect("add");
        store
            .usage_add(vec![delta("a|minute|developer=alice", 60, 1, 10, 1)])
            .await
            .expect("add again");
        assert_eq!(
            store.usage_totals(keys.clone()).await.unwrap(),
            [totals(3, 160, 7), totals(2, 0, 0), UsageTotals::default()],
            "{b}"
        );

        // A second handle (another replica) adds concurrently; nothing is lost.
        let other = Store::open(&db.config).await.expect("open again");
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let s = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    s.usage_add(vec![
                        delta("b|day|", 0, 1, i, 0),
                        delta("a|minute|developer=alice", 120, 1, 1, 1),
                    ])
                    .await
                    .expect("concurrent add");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            other.usage_totals(keys.clone()).await.unwrap(),
            [totals(3, 160, 7), totals(82, 280, 0), totals(80, 80, 80)],
            "{b}"
        );

        // Windows ending at or before the cut-off go (0..60 and 60..120; 120..180 stays).
        assert_eq!(store.usage_prune(120).await.unwrap(), 2, "{b}");
        assert_eq!(
            store.usage_totals(keys).await.unwrap(),
            [
                UsageTotals::default(),
                UsageTotals::default(),
                totals(80, 80, 80)
            ],
            "{b}"
        );

        // Values beyond i64 are refused, not wrapped.
        let err = store
            .usage_add(vec![delta("c", 0, u64::MAX, 0, 0)])
            .await
            .expect_err("too large");
        assert!(err.to_string().contains("out of range"), "{b}: {err}");
    }
}
