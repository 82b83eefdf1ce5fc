//! API token storage: insert, lookup by hash, list, revoke, uniqueness; developer keys with
//! their person and repository scope.

use store::{NewToken, Store, StoreError, TokenKind, TokenStore, normalize_time};
use time::OffsetDateTime;

use crate::common::backends;

fn token(name: &str, hash: &str) -> NewToken {
    NewToken {
        name: name.to_owned(),
        kind: TokenKind::Admin,
        hash: hash.to_owned(),
        person: None,
        repo: None,
    }
}

fn developer_key(name: &str, hash: &str, person: Option<&str>, repo: Option<&str>) -> NewToken {
    NewToken {
        name: name.to_owned(),
        kind: TokenKind::Developer,
        hash: hash.to_owned(),
        person: person.map(str::to_owned),
        repo: repo.map(str::to_owned),
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
            store.revoke_token(TokenKind::Admin, "ci").await.unwrap(),
            "{b}: revoking an active token"
        );
        assert!(
            !store.revoke_token(TokenKind::Admin, "ci").await.unwrap(),
            "{b}: already revoked"
        );
        assert!(
            !store
                .revoke_token(TokenKind::Admin, "missing")
                .await
                .unwrap(),
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
        assert!(store.revoke_token(TokenKind::Admin, "ci").await.unwrap());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn developer_keys_carry_person_and_repo() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("open");
        store
            .insert_token(token("ci", "aa11"))
            .await
            .expect("admin");
        let key = store
            .insert_token(developer_key(
                "lena-1",
                "dd01",
                Some("lena"),
                Some("acme/storefront"),
            ))
            .await
            .expect("developer key");
        assert_eq!(key.kind, TokenKind::Developer, "{b}");
        assert_eq!(key.person.as_deref(), Some("lena"), "{b}");
        assert_eq!(key.repo.as_deref(), Some("acme/storefront"), "{b}");
        store
            .insert_token(developer_key("lena-2", "dd02", Some("lena"), None))
            .await
            .expect("developer key without repo");

        let found = store
            .active_token_by_hash("dd01")
            .await
            .unwrap()
            .expect("found");
        assert_eq!(found.kind, TokenKind::Developer, "{b}");
        assert_eq!(found.person.as_deref(), Some("lena"), "{b}");
        assert_eq!(found.repo.as_deref(), Some("acme/storefront"), "{b}");
        let unscoped = store.active_token_by_hash("dd02").await.unwrap().unwrap();
        assert_eq!(unscoped.repo, None, "{b}");
        let admin = store.active_token_by_hash("aa11").await.unwrap().unwrap();
        assert_eq!(
            (admin.kind, admin.person, admin.repo),
            (TokenKind::Admin, None, None),
            "{b}"
        );

        let listed: Vec<(String, TokenKind, Option<String>)> = store
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.kind, t.person))
            .collect();
        assert_eq!(
            listed,
            [
                ("ci".to_owned(), TokenKind::Admin, None),
                (
                    "lena-1".to_owned(),
                    TokenKind::Developer,
                    Some("lena".to_owned())
                ),
                (
                    "lena-2".to_owned(),
                    TokenKind::Developer,
                    Some("lena".to_owned())
                ),
            ],
            "{b}"
        );

        // The database itself refuses a developer key without a person.
        for person in [None, Some("")] {
            let err = store
                .insert_token(developer_key("nobody", "dd03", person, None))
                .await
                .expect_err("developer key without a person");
            assert!(
                !matches!(err, StoreError::Duplicate { .. }),
                "{b}: got {err:?}"
            );
            assert!(
                err.to_string().contains("api_tokens_developer_person"),
                "{b}: {err}"
            );
        }

        // Names are unique per kind among active credentials.
        let err = store
            .insert_token(developer_key("lena-1", "dd04", Some("lena"), None))
            .await
            .expect_err("duplicate key name");
        assert_eq!(
            err.to_string(),
            "developer key `lena-1` already exists",
            "{b}"
        );
        store
            .insert_token(developer_key("ci", "dd05", Some("lena"), None))
            .await
            .expect("an admin token's name is free for a developer key");

        // Revoking is per kind: revoking the admin `ci` leaves the developer key `ci` active.
        assert!(
            store.revoke_token(TokenKind::Admin, "ci").await.unwrap(),
            "{b}"
        );
        assert!(
            store.active_token_by_hash("dd05").await.unwrap().is_some(),
            "{b}"
        );
        assert!(
            !store
                .revoke_token(TokenKind::Admin, "lena-1")
                .await
                .unwrap(),
            "{b}: an admin revoke does not reach developer keys"
        );
        assert!(
            store
                .revoke_token(TokenKind::Developer, "lena-1")
                .await
                .unwrap(),
            "{b}"
        );
        assert!(
            store.active_token_by_hash("dd01").await.unwrap().is_none(),
            "{b}: revoked key is not active"
        );
        assert!(
            !store
                .revoke_token(TokenKind::Developer, "lena-1")
                .await
                .unwrap(),
            "{b}: already revoked"
        );
    }
}
