//! Deployment authorizations on both backends: insert and read back exactly, the newest per
//! (app, environment, commit), listing, revoking once, retro-reviewing break-glass ones once,
//! and the due retro-review listing.

use store::{
    AuthorizationKind, DeployAuthorization, DeployStore, NewDeployAuthorization, RetroReview,
    Revocation, Store, normalize_time,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::common::backends;

const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";
const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

fn authorization(
    env: &str,
    commit: &str,
    kind: AuthorizationKind,
    index: u64,
) -> NewDeployAuthorization {
    let break_glass = kind == AuthorizationKind::BreakGlass;
    NewDeployAuthorization {
        app: "storefront".to_owned(),
        environment: env.to_owned(),
        repo: (!break_glass).then(|| "acme/storefront".to_owned()),
        commit_sha: commit.to_owned(),
        kind,
        approver: "alice".to_owned(),
        reason: break_glass.then(|| "checkout is down".to_owned()),
        authorized_at: T0,
        expires_at: T0 + Duration::days(7),
        envelope: serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}),
        details: serde_json::json!({"z": 1, "a": {"y": [1, 2], "b": "é"}}),
        ledger_index: index,
        retro_review_due: break_glass.then(|| T0 + Duration::hours(48)),
    }
}

fn ids(list: &[DeployAuthorization]) -> Vec<i64> {
    list.iter().map(|a| a.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizations_round_trip_and_the_newest_wins() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let new = authorization("production", C1, AuthorizationKind::Standard, 5);
        let first = store
            .insert_deploy_authorization(new.clone())
            .await
            .unwrap();
        assert_eq!(first.authorized_at, normalize_time(T0), "{b}");
        assert_eq!(first.revocation, None, "{b}");
        let read = store.deploy_authorization(first.id).await.unwrap();
        assert_eq!(read.as_ref(), Some(&first), "{b}: read back exactly");
        assert_eq!(
            store.deploy_authorization(first.id + 100).await.unwrap(),
            None
        );

        let second = store
            .insert_deploy_authorization(authorization(
                "production",
                C1,
                AuthorizationKind::Standard,
                9,
            ))
            .await
            .unwrap();
        let other_commit = store
            .insert_deploy_authorization(authorization(
                "production",
                C2,
                AuthorizationKind::Standard,
                10,
            ))
            .await
            .unwrap();
        let staging = store
            .insert_deploy_authorization(authorization(
                "staging",
                C1,
                AuthorizationKind::Standard,
                11,
            ))
            .await
            .unwrap();
        let newest = store
            .newest_deploy_authorization("storefront", "production", C1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(newest.id, second.id, "{b}");
        assert_eq!(newest.ledger_index, 9, "{b}");
        assert_eq!(
            store
                .newest_deploy_authorization("storefront", "production", &"3".repeat(40))
                .await
                .unwrap(),
            None,
            "{b}"
        );
        let list = store
            .deploy_authorizations("storefront", "production", 100)
            .await
            .unwrap();
        assert_eq!(ids(&list), [other_commit.id, second.id, first.id], "{b}");
        let list = store
            .deploy_authorizations("storefront", "production", 1)
            .await
            .unwrap();
        assert_eq!(ids(&list), [other_commit.id], "{b}");
        let list = store
            .deploy_authorizations("storefront", "staging", 100)
            .await
            .unwrap();
        assert_eq!(ids(&list), [staging.id], "{b}");

        // A break-glass authorization needs its reason and deadline.
        let mut broken = authorization("production", C1, AuthorizationKind::BreakGlass, 12);
        broken.reason = None;
        assert!(
            store.insert_deploy_authorization(broken).await.is_err(),
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_happens_once() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let a = store
            .insert_deploy_authorization(authorization(
                "production",
                C1,
                AuthorizationKind::Standard,
                1,
            ))
            .await
            .unwrap();
        let revocation = Revocation {
            at: normalize_time(T0 + Duration::hours(1)),
            by: "bob".to_owned(),
            reason: "bad migration".to_owned(),
            ledger_index: 2,
            details: serde_json::json!({"authorization_ledger_index": 1}),
        };
        assert!(
            store
                .revoke_deploy_authorization(a.id, revocation.clone())
                .await
                .unwrap(),
            "{b}"
        );
        let mut again = revocation.clone();
        again.by = "carol".to_owned();
        assert!(
            !store
                .revoke_deploy_authorization(a.id, again)
                .await
                .unwrap(),
            "{b}"
        );
        assert!(
            !store
                .revoke_deploy_authorization(a.id + 1, revocation.clone())
                .await
                .unwrap()
        );
        let read = store.deploy_authorization(a.id).await.unwrap().unwrap();
        assert_eq!(
            read.revocation,
            Some(revocation),
            "{b}: the first revocation stays"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retro_reviews_are_listed_until_done() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        let standard = store
            .insert_deploy_authorization(authorization(
                "production",
                C1,
                AuthorizationKind::Standard,
                1,
            ))
            .await
            .unwrap();
        let early = store
            .insert_deploy_authorization(authorization(
                "production",
                C2,
                AuthorizationKind::BreakGlass,
                2,
            ))
            .await
            .unwrap();
        let mut later = authorization("staging", C2, AuthorizationKind::BreakGlass, 3);
        later.retro_review_due = Some(T0 + Duration::hours(72));
        let later = store.insert_deploy_authorization(later).await.unwrap();

        let due = |hours: i64| {
            let store = store.clone();
            async move {
                ids(&store
                    .retro_reviews_due(T0 + Duration::hours(hours))
                    .await
                    .unwrap())
            }
        };
        assert_eq!(
            due(48).await,
            Vec::<i64>::new(),
            "{b}: due at 48 h is not before 48 h"
        );
        assert_eq!(due(49).await, [early.id], "{b}");
        assert_eq!(
            due(100).await,
            [early.id, later.id],
            "{b}: oldest due first"
        );

        let review = RetroReview {
            at: normalize_time(T0 + Duration::hours(50)),
            by: "priya".to_owned(),
            notes: "hotfix was right; follow-up PR #9".to_owned(),
            ledger_index: 4,
        };
        assert!(
            !store
                .record_retro_review(standard.id, review.clone())
                .await
                .unwrap(),
            "{b}: a standard authorization has no retro-review"
        );
        assert!(
            store
                .record_retro_review(early.id, review.clone())
                .await
                .unwrap(),
            "{b}"
        );
        assert!(
            !store
                .record_retro_review(early.id, review.clone())
                .await
                .unwrap(),
            "{b}"
        );
        assert_eq!(due(100).await, [later.id], "{b}");
        let read = store.deploy_authorization(early.id).await.unwrap().unwrap();
        assert_eq!(read.retro_review, Some(review), "{b}");
        assert_eq!(read.reason.as_deref(), Some("checkout is down"), "{b}");
    }
}
