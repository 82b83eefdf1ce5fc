//! API token storage: insert, lookup by hash, list, revoke, uniqueness.

use store::{NewToken, Store, StoreError, TokenKind, TokenStore, normalize_time};
use time::OffsetDateTime;

use crate::common::backends;

fn token(name: &str, hash: &str) -> NewToken {
    NewToken {
        name: name.to_owned(),
        kind: TokenKind::Admin,
        hash: hash.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_lifecycle() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        assert_eq!(store.backend(), b);
        store.ping().await.expect("ping");
        assert!(store.list_tokens().await.unwrap().is_empty(), "{b}");

        let before = normalize_time(OffsetDateTime::now_utc());
        let first = store
            .insert_token(token("ci", "aa11"))
            .await
            .expect("insert");
        let second = store
            .insert_token(token("laptop", "bb22"))
            .await
            .expect("insert");
        let after = normalize_time(OffsetDateTime::now_utc());
        assert_eq!(first.name, "ci");
        assert_eq!(first.kind, TokenKind::Admin);
        assert_eq!(first.hash, "aa11");
        assert!(first.revoked_at.is_none());
        assert!(second.id > first.id, "{b}: ids increase");
        assert!(
            before <= first.created_at && first.created_at <= after,
            "{b}"
        );

        let found = store
            .active_token_by_hash("aa11")
            .await
            .unwrap()
            .expect("found");
        assert_eq!(found.id, first.id, "{b}");
        assert_eq!(found.name, "ci");
        assert_eq!(found.kind, TokenKind::Admin);
        assert_eq!(
            found.created_at, first.created_at,
            "{b}: created_at round-trips"
        );
        assert!(found.revoked_at.is_none());
        assert!(
            store.active_token_by_hash("nope").await.unwrap().is_none(),
            "{b}"
        );

        let names: Vec<String> = store
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["ci", "laptop"], "{b}");

        assert!(
            store.revoke_token("ci").await.unwrap(),
            "{b}: revoking an active token"
        );
        assert!(
            !store.revoke_token("ci").await.unwrap(),
            "{b}: already revoked"
        );
        assert!(
            !store.revoke_token("missing").await.unwrap(),
            "{b}: unknown name"
        );
        assert!(
            store.active_token_by_hash("aa11").await.unwrap().is_none(),
            "{b}: revoked is not active"
        );
        assert!(
            store.active_token_by_hash("bb22").await.unwrap().is_some(),
            "{b}: others unaffected"
        );

        let listed = store.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 2, "{b}: revoked tokens stay listed");
        let revoked_at = listed[0].revoked_at.expect("revoked_at set");
        assert!(revoked_at >= first.created_at, "{b}");
        assert!(listed[1].revoked_at.is_none(), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_uniqueness() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        store
            .insert_token(token("ci", "aa11"))
            .await
            .expect("insert");

        let err = store
            .insert_token(token("ci", "cc33"))
            .await
            .expect_err("duplicate name");
        match &err {
            StoreError::Duplicate { what, name } => {
                assert_eq!(*what, "token", "{b}");
                assert_eq!(name, "ci", "{b}");
            }
            other => panic!("{b}: expected Duplicate, got {other:?}"),
        }
        assert_eq!(err.to_string(), "token `ci` already exists", "{b}");

        let err = store
            .insert_token(token("other", "aa11"))
            .await
            .expect_err("duplicate hash");
        assert!(
            matches!(
                err,
                StoreError::Duplicate {
                    what: "token hash",
                    ..
                }
            ),
            "{b}: got {err:?}"
        );
        assert_eq!(
            store.list_tokens().await.unwrap().len(),
            1,
            "{b}: failed inserts left nothing"
        );

        // A revoked token's name can be reused; its hash cannot.
        assert!(store.revoke_token("ci").await.unwrap());
        let again = store
            .insert_token(token("ci", "dd44"))
            .await
            .expect("name reusable after revoke");
        assert_eq!(
            store
                .active_token_by_hash("dd44")
                .await
                .unwrap()
                .map(|t| t.id),
            Some(again.id),
            "{b}"
        );
        let err = store
            .insert_token(token("ci2", "aa11"))
            .await
            .expect_err("revoked hash stays taken");
        assert!(
            matches!(err, StoreError::Duplicate { .. }),
            "{b}: got {err:?}"
        );
    }
}
