//! Opening and migrating: idempotence, version reporting, refusal of newer schemas, WAL mode,
//! concurrent opens, and clear error messages.

use std::path::PathBuf;

use store::{
    LATEST_SCHEMA_VERSION, NewToken, Store, StoreConfig, StoreError, TokenKind, TokenStore,
};

use crate::common::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_are_idempotent() {
    for db in backends().await {
        let b = db.label;
        let store = Store::open(&db.config).await.expect("first open");
        assert_eq!(
            store.schema_version().await.unwrap(),
            LATEST_SCHEMA_VERSION,
            "{b}"
        );
        store
            .insert_token(NewToken {
                name: "keep".into(),
                kind: TokenKind::Admin,
                hash: "h1".into(),
                person: None,
                repo: None,
            })
            .await
            .unwrap();
        drop(store);

        let store = Store::open(&db.config).await.expect("second open");
        assert_eq!(
            store.schema_version().await.unwrap(),
            LATEST_SCHEMA_VERSION,
            "{b}"
        );
        assert_eq!(
            store.list_tokens().await.unwrap().len(),
            1,
            "{b}: data survives reopen"
        );
        drop(store);

        let rows = db.query_i64("SELECT count(*) FROM schema_migrations").await;
        assert_eq!(
            rows,
            i64::from(LATEST_SCHEMA_VERSION),
            "{b}: one row per migration"
        );
        let named = db
            .query_i64("SELECT count(*) FROM schema_migrations WHERE version = 1 AND name = 'tokens and events' AND applied_at IS NOT NULL")
            .await;
        assert_eq!(named, 1, "{b}: migration 1 recorded with name and time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn newer_schema_is_refused() {
    for db in backends().await {
        let b = db.label;
        drop(Store::open(&db.config).await.expect("open"));
        let now = if b == "sqlite" {
            "'2030-01-01T00:00:00.000000Z'"
        } else {
            "now()"
        };
        db.exec_raw(&format!(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', {now})"
        ))
        .await;

        let err = Store::open(&db.config)
            .await
            .expect_err("newer schema must be refused");
        match err {
            StoreError::SchemaTooNew { found, supported } => {
                assert_eq!(found, 999, "{b}");
                assert_eq!(supported, LATEST_SCHEMA_VERSION, "{b}");
            }
            ref other => panic!("{b}: expected SchemaTooNew, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("999"), "{b}: {msg}");
        assert!(
            msg.contains(&format!("({LATEST_SCHEMA_VERSION})")),
            "{b}: {msg}"
        );
        // Refusal changed nothing.
        assert_eq!(
            db.query_i64("SELECT count(*) FROM schema_migrations").await,
            i64::from(LATEST_SCHEMA_VERSION) + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once() {
    for db in backends().await {
        let b = db.label;
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let config = db.config.clone();
                tokio::spawn(async move { Store::open(&config).await })
            })
            .collect();
        let mut stores = Vec::new();
        for o in opens {
            stores.push(
                o.await
                    .expect("task")
                    .unwrap_or_else(|e| panic!("{b}: concurrent open failed: {e}")),
            );
        }
        for s in &stores {
            assert_eq!(
                s.schema_version().await.unwrap(),
                LATEST_SCHEMA_VERSION,
                "{b}"
            );
            s.ping().await.unwrap();
        }
        drop(stores);
        assert_eq!(
            db.query_i64("SELECT count(*) FROM schema_migrations").await,
            i64::from(LATEST_SCHEMA_VERSION),
            "{b}: exactly one set of migration rows"
        );
        assert_eq!(
            db.query_i64("SELECT count(DISTINCT version) FROM schema_migrations")
                .await,
            i64::from(LATEST_SCHEMA_VERSION),
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_uses_wal() {
    for db in backends().await {
        let StoreConfig::Sqlite { path } = &db.config else {
            continue;
        };
        let store = Store::open(&db.config).await.expect("open");
        let conn = rusqlite::Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(store);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_open_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("missing-dir").join("aigov.db");
    let err = Store::open(&StoreConfig::Sqlite { path: path.clone() })
        .await
        .expect_err("no parent dir");
    assert!(matches!(err, StoreError::SqliteOpen { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(&StoreConfig::Sqlite { path: junk.clone() })
        .await
        .expect_err("not a database");
    let msg = err.to_string();
    assert!(msg.contains(&junk.display().to_string()), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connect_error_names_host_not_password() {
    // A loopback port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = StoreConfig::Postgres {
        url: format!("postgres://aigov@127.0.0.1:{port}/aigov"),
        password: Some("hunter2-secret".into()),
    };
    let err = Store::open(&config)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, StoreError::PostgresConnect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");

    // Neither the Display of a config nor a parse error leaks a password from the URL.
    let with_pw = StoreConfig::Postgres {
        url: format!("postgres://aigov:hunter2-secret@127.0.0.1:{port}/aigov"),
        password: None,
    };
    let shown = with_pw.to_string();
    assert!(
        shown.contains(&format!("127.0.0.1:{port}")) && !shown.contains("hunter2"),
        "{shown}"
    );
    let bad = StoreConfig::Postgres {
        url: "postgres://aigov:hunter2-secret@127.0.0.1:notaport/x".into(),
        password: None,
    };
    let err = Store::open(&bad).await.expect_err("bad url");
    assert!(matches!(err, StoreError::PostgresConfig(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
