//! PostgreSQL backend: a deadpool connection pool over tokio-postgres (no TLS, meant for loopback
//! or a private network). Migrations run under an advisory lock so replicas can start together.

use std::error::Error as _;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use time::OffsetDateTime;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

use crate::migrations::{LATEST_SCHEMA_VERSION, MIGRATIONS, POSTGRES_BOOTSTRAP};
use crate::{
    EventQuery, EventRecord, NewEvent, NewToken, StoreError, TokenKind, TokenRecord, normalize_time,
};

/// Key of the session advisory lock held while migrating ("aigov_mg").
const MIGRATION_LOCK_KEY: i64 = 0x6169_676f_765f_6d67;
const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Display of a tokio-postgres error including its causes (its own Display says only `db error`).
pub(crate) fn error_chain(e: &tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `host:port` list plus database and user; never the password.
fn describe(cfg: &Config) -> String {
    let ports = cfg.get_ports();
    let port = |i: usize| {
        ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432)
    };
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| match h {
            Host::Tcp(h) => format!("{h}:{}", port(i)),
            Host::Unix(p) => format!("{}/.s.PGSQL.{}", p.display(), port(i)),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    let mut out = format!("`{hosts}`");
    if let Some(db) = cfg.get_dbname() {
        out.push_str(&format!(" database `{db}`"));
    }
    if let Some(user) = cfg.get_user() {
        out.push_str(&format!(" user `{user}`"));
    }
    out
}

pub(crate) fn describe_url(url: &str) -> Option<String> {
    Config::from_str(url).ok().map(|c| describe(&c))
}

fn parse_config(url: &str, password: Option<&str>) -> Result<Config, StoreError> {
    let mut cfg = Config::from_str(url).map_err(|e| StoreError::PostgresConfig(error_chain(&e)))?;
    if let Some(password) = password {
        cfg.password(password);
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(CONNECT_TIMEOUT);
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("aigov");
    }
    Ok(cfg)
}

fn to_u32(v: i32) -> Result<u32, StoreError> {
    u32::try_from(v)
        .map_err(|_| StoreError::InvalidData(format!("schema version {v} out of range")))
}

async fn current_version(client: &Client) -> Result<u32, StoreError> {
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    to_u32(row.try_get(0)?)
}

/// Applies pending migrations on a dedicated connection holding the advisory lock. The
/// connection is closed afterwards, which also releases the lock if anything failed.
async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let got: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?
        .try_get(0)?;
    if !got {
        tracing::info!("another aigov instance is migrating the database; waiting");
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await?;
    }
    client.batch_execute(POSTGRES_BOOTSTRAP).await?;
    let found = current_version(client).await?;
    if found > LATEST_SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST_SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |e: tokio_postgres::Error| StoreError::Migration {
            version: m.version,
            name: m.name,
            message: error_chain(&e),
        };
        let version = i32::try_from(m.version)
            .map_err(|_| StoreError::InvalidData(format!("migration version {}", m.version)))?;
        let tx = client.transaction().await.map_err(fail)?;
        tx.batch_execute(m.postgres).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
            &[&version, &m.name],
        )
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied postgres migration"
        );
    }
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    Ok(())
}

fn token_from_row(row: &Row) -> Result<TokenRecord, StoreError> {
    let kind: String = row.try_get(2)?;
    Ok(TokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        kind: kind.parse::<TokenKind>()?,
        hash: row.try_get(3)?,
        created_at: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}

fn event_from_row(row: &Row) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        actor: row.try_get(2)?,
        subject: row.try_get(3)?,
        outcome: row.try_get(4)?,
        at: normalize_time(row.try_get(5)?),
        payload: row.try_get(6)?,
    })
}

const TOKEN_COLUMNS: &str = "id, name, kind, hash, created_at, revoked_at";
const EVENT_COLUMNS: &str = "id, kind, actor, subject, outcome, at, payload";

pub(crate) struct PgStore {
    pool: Pool,
    target: String,
}

impl PgStore {
    pub(crate) async fn open(url: &str, password: Option<&str>) -> Result<PgStore, StoreError> {
        let cfg = parse_config(url, password)?;
        let target = describe(&cfg);
        let connect_err = |e: tokio_postgres::Error| StoreError::PostgresConnect {
            target: target.clone(),
            message: error_chain(&e),
        };
        let (mut client, connection) = cfg.connect(NoTls).await.map_err(connect_err)?;
        let conn_task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %error_chain(&e), "postgres migration connection ended");
            }
        });
        let migrated = migrate(&mut client).await;
        drop(client);
        // The connection future finishes once the client is dropped; its result is irrelevant.
        let _ = conn_task.await;
        migrated?;

        let manager = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build PostgreSQL pool: {e}")))?;
        tracing::debug!(target = %target, "opened postgres store");
        Ok(PgStore { pool, target })
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::PostgresConnect {
                target: self.target.clone(),
                message: error_chain(&e),
            },
            PoolError::Timeout(t) => StoreError::PostgresConnect {
                target: self.target.clone(),
                message: format!("timed out waiting for a pooled connection ({t:?})"),
            },
            other => StoreError::Other(format!("postgres pool: {other}")),
        })
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    pub(crate) async fn schema_version(&self) -> Result<u32, StoreError> {
        let client = self.client().await?;
        current_version(&client).await
    }

    pub(crate) async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        let created_at = normalize_time(OffsetDateTime::now_utc());
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO api_tokens (name, kind, hash, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .await?;
        let res = client
            .query_one(
                &stmt,
                &[&token.name, &token.kind.as_str(), &token.hash, &created_at],
            )
            .await;
        match res {
            Ok(row) => Ok(TokenRecord {
                id: row.try_get(0)?,
                name: token.name,
                kind: token.kind,
                hash: token.hash,
                created_at,
                revoked_at: None,
            }),
            Err(e) => match e.as_db_error() {
                Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
                    if db.constraint() == Some("api_tokens_hash_key") {
                        Err(StoreError::Duplicate {
                            what: "token hash",
                            name: token.hash,
                        })
                    } else {
                        Err(StoreError::Duplicate {
                            what: "token",
                            name: token.name,
                        })
                    }
                }
                _ => Err(e.into()),
            },
        }
    }

    pub(crate) async fn active_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL"
            ))
            .await?;
        client
            .query_opt(&stmt, &[&hash])
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
            ))
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    pub(crate) async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let now = normalize_time(OffsetDateTime::now_utc());
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                &[&now, &name],
            )
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn append_event(&self, event: NewEvent) -> Result<EventRecord, StoreError> {
        let at = normalize_time(event.at);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // EXCLUSIVE blocks other appenders (not plain readers) until commit, so max(id) + 1 is
        // gap-free and ids become visible in increasing order.
        tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE")
            .await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO events (id, kind, actor, subject, outcome, at, payload)
                 SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6 FROM events
                 RETURNING id",
            )
            .await?;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &event.kind,
                    &event.actor,
                    &event.subject,
                    &event.outcome,
                    &at,
                    &event.payload,
                ],
            )
            .await?;
        let id: i64 = row.try_get(0)?;
        tx.commit().await?;
        Ok(EventRecord {
            id,
            kind: event.kind,
            actor: event.actor,
            subject: event.subject,
            outcome: event.outcome,
            at,
            payload: event.payload,
        })
    }

    pub(crate) async fn list_events(
        &self,
        query: EventQuery,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let limit = i64::from(query.effective_limit());
        let since = query.since.map(normalize_time);
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE true");
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(kind) = &query.kind {
            args.push(kind);
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        if let Some(actor) = &query.actor {
            args.push(actor);
            sql.push_str(&format!(" AND actor = ${}", args.len()));
        }
        if let Some(since) = &since {
            args.push(since);
            sql.push_str(&format!(" AND at >= ${}", args.len()));
        }
        if let Some(after) = &query.after_id {
            args.push(after);
            sql.push_str(&format!(" AND id > ${}", args.len()));
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", args.len()));
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query(&stmt, &args)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }
}
