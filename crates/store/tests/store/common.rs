//! Test harness: yields the backends every test runs against (a fresh SQLite file always; a
//! fresh PostgreSQL database when `AIGOV_TEST_POSTGRES_URL` is set) plus raw-SQL helpers.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use store::StoreConfig;
use tempfile::TempDir;
use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};

pub const PG_URL_ENV: &str = "AIGOV_TEST_POSTGRES_URL";
pub const PG_REQUIRE_ENV: &str = "AIGOV_REQUIRE_POSTGRES";

/// One backend instance for one test.
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub label: &'static str,
    pub config: StoreConfig,
    _dir: Option<TempDir>,
    pg: Option<PgTestDb>,
}

/// A throwaway database on the test server; dropped (with `FORCE`) when the test ends.
struct PgTestDb {
    admin: Config,
    dbname: String,
    /// The connection config for the test database itself.
    config: Config,
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.dbname);
        // Drop may run inside a tokio runtime: use a fresh runtime on its own thread.
        let res = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let (client, conn) = admin.connect(NoTls).await.map_err(|e| e.to_string())?;
                let task = tokio::spawn(conn);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| e.to_string())?;
                drop(client);
                let _ = task.await;
                Ok(())
            })
        })
        .join();
        if !matches!(res, Ok(Ok(()))) {
            eprintln!(
                "note: could not drop test database {}: {res:?}",
                self.dbname
            );
        }
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// The admin server config from the environment, enforcing `AIGOV_REQUIRE_POSTGRES`.
pub fn pg_admin_config() -> Option<Config> {
    let url = std::env::var(PG_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty());
    let required = std::env::var(PG_REQUIRE_ENV).is_ok_and(|v| v == "1" || v == "true");
    match url {
        Some(url) => {
            note(&format!(
                "note: store tests: also running against PostgreSQL ({PG_URL_ENV})"
            ));
            Some(
                Config::from_str(&url)
                    .unwrap_or_else(|e| panic!("{PG_URL_ENV} is not a valid PostgreSQL URL: {e}")),
            )
        }
        None if required => {
            panic!("{PG_REQUIRE_ENV}=1 but {PG_URL_ENV} is not set: refusing to skip PostgreSQL")
        }
        None => {
            note(&format!(
                "note: store tests: PostgreSQL backend SKIPPED ({PG_URL_ENV} not set); \
                 `cargo xtask test` starts a throwaway server"
            ));
            None
        }
    }
}

/// Prints once per test binary, straight to stderr so libtest's capture does not hide it.
fn note(text: &str) {
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{text}");
    });
}

fn pg_url_for(admin: &Config, dbname: &str) -> String {
    let user = admin.get_user().unwrap_or("postgres");
    let port = admin.get_ports().first().copied().unwrap_or(5432);
    match admin.get_hosts().first() {
        Some(Host::Tcp(h)) if h.contains(':') => format!("postgres://{user}@[{h}]:{port}/{dbname}"),
        Some(Host::Tcp(h)) => format!("postgres://{user}@{h}:{port}/{dbname}"),
        // Socket form exercises the key=value connection-string syntax.
        Some(Host::Unix(p)) => {
            format!(
                "host={} port={port} user={user} dbname={dbname}",
                p.display()
            )
        }
        None => format!("postgres://{user}@localhost:{port}/{dbname}"),
    }
}

async fn admin_client(admin: &Config) -> tokio_postgres::Client {
    let (client, conn) = admin
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {PG_URL_ENV} server: {e}"));
    tokio::spawn(conn);
    client
}

async fn new_pg_db(admin: &Config) -> TestDb {
    let dbname = format!("aigov_test_{}", unique_suffix());
    admin_client(admin)
        .await
        .batch_execute(&format!("CREATE DATABASE {dbname}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {dbname}: {e:?}"));
    let url = pg_url_for(admin, &dbname);
    let password = admin
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut config = Config::from_str(&url).expect("test url parses");
    if let Some(p) = &password {
        config.password(p.as_str());
    }
    TestDb {
        label: "postgres",
        config: StoreConfig::Postgres { url, password },
        _dir: None,
        pg: Some(PgTestDb {
            admin: admin.clone(),
            dbname,
            config,
        }),
    }
}

fn new_sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aigov.db");
    TestDb {
        label: "sqlite",
        config: StoreConfig::Sqlite { path },
        _dir: Some(dir),
        pg: None,
    }
}

/// Fresh, empty databases: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<TestDb> {
    let mut out = vec![new_sqlite_db()];
    if let Some(admin) = pg_admin_config() {
        out.push(new_pg_db(&admin).await);
    }
    out
}

impl TestDb {
    /// Runs SQL directly on the database, bypassing the store.
    pub async fn exec_raw(&self, sql: &str) {
        match (&self.config, &self.pg) {
            (StoreConfig::Sqlite { path }, _) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite open");
                conn.execute_batch(sql).expect("raw sqlite exec");
            }
            (_, Some(pg)) => {
                admin_client(&pg.config)
                    .await
                    .batch_execute(sql)
                    .await
                    .unwrap_or_else(|e| panic!("raw postgres exec: {e:?}"));
            }
            _ => unreachable!("postgres TestDb without server"),
        }
    }

    /// Runs a query returning one integer, directly on the database.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        match (&self.config, &self.pg) {
            (StoreConfig::Sqlite { path }, _) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite open");
                conn.query_row(sql, [], |r| r.get(0))
                    .expect("raw sqlite query")
            }
            (_, Some(pg)) => admin_client(&pg.config)
                .await
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("raw postgres query: {e:?}"))
                .get::<_, i64>(0),
            _ => unreachable!("postgres TestDb without server"),
        }
    }
}
