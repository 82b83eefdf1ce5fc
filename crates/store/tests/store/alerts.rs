//! Exception alerts: one per key, pending until due then raised, dismissed, listed, and
//! noted as recorded in the ledger.

use serde_json::json;
use store::{AlertState, AlertStore, NewAlert, Store};
use time::{Duration, OffsetDateTime};

use crate::common::backends;

fn alert(key: &str, due: Option<OffsetDateTime>) -> NewAlert {
    NewAlert {
        kind: "push-to-protected-branch".to_owned(),
        key: key.to_owned(),
        subject: "repo:acme/app".to_owned(),
        summary: format!("alert {key}"),
        details: json!({"key": key, "n": 1}),
        due,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_raised_once_and_follow_their_states() {
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let ids = store
            .add_alerts(
                vec![
                    alert("a", None),
                    alert("b", Some(t0 + Duration::minutes(5))),
                    alert("c", Some(t0 + Duration::minutes(10))),
                ],
                t0,
            )
            .await
            .unwrap();
        assert!(ids.iter().all(Option::is_some), "{b}: {ids:?}");
        let (a, bb, c) = (ids[0].unwrap(), ids[1].unwrap(), ids[2].unwrap());
        // The same keys again (another replica, a redelivery): nothing new.
        let again = store
            .add_alerts(vec![alert("a", None), alert("b", None)], t0)
            .await
            .unwrap();
        assert_eq!(again, [None, None], "{b}");

        let open = store.alerts(Some(AlertState::Open), 10).await.unwrap();
        assert_eq!(open.len(), 1, "{b}");
        assert_eq!(open[0].id, a);
        assert_eq!(open[0].raised_at, Some(t0), "{b}");
        assert_eq!(open[0].details, json!({"key": "a", "n": 1}), "{b}");
        assert_eq!(open[0].ledger_index, None);

        // Unrecorded until its ledger entry is noted.
        let unrecorded = store.unrecorded_alerts(10).await.unwrap();
        assert_eq!(
            unrecorded.iter().map(|x| x.id).collect::<Vec<_>>(),
            [a],
            "{b}"
        );
        store.set_alert_ledger_index(a, 42).await.unwrap();
        assert!(store.unrecorded_alerts(10).await.unwrap().is_empty(), "{b}");

        // Due alerts: none before their time, then the first.
        assert!(store.due_alerts(t0, 10).await.unwrap().is_empty(), "{b}");
        let due = store
            .due_alerts(t0 + Duration::minutes(7), 10)
            .await
            .unwrap();
        assert_eq!(due.iter().map(|x| x.id).collect::<Vec<_>>(), [bb], "{b}");
        assert_eq!(due[0].due, Some(t0 + Duration::minutes(5)), "{b}");
        let t1 = t0 + Duration::minutes(7);
        assert!(store.raise_alert(bb, t1).await.unwrap(), "{b}");
        assert!(
            !store.raise_alert(bb, t1).await.unwrap(),
            "{b}: raised once"
        );
        // A pending alert explained in time is dismissed and never raised.
        assert!(store.dismiss_alert(c, "merge of #12".into()).await.unwrap());
        assert!(!store.raise_alert(c, t1).await.unwrap(), "{b}");
        assert!(
            !store.dismiss_alert(c, "again".into()).await.unwrap(),
            "{b}"
        );
        assert!(
            store
                .due_alerts(t0 + Duration::hours(1), 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );

        let all = store.alerts(None, 10).await.unwrap();
        let states: Vec<(u64, AlertState, Option<String>)> = all
            .iter()
            .map(|x| (x.id, x.state, x.resolution.clone()))
            .collect();
        assert_eq!(
            states,
            [
                (c, AlertState::Dismissed, Some("merge of #12".to_owned())),
                (bb, AlertState::Open, None),
                (a, AlertState::Open, None),
            ],
            "{b}: newest first"
        );
        assert_eq!(all[1].raised_at, Some(t1), "{b}");
        let unrecorded = store.unrecorded_alerts(10).await.unwrap();
        assert_eq!(
            unrecorded.iter().map(|x| x.id).collect::<Vec<_>>(),
            [bb],
            "{b}"
        );

        let err = store
            .add_alerts(vec![alert("", None)], t0)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("needs a kind and a key"),
            "{b}: {err}"
        );
    }
}
