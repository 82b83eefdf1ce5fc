//! PostgreSQL backend: a deadpool connection pool over tokio-postgres (no TLS, meant for loopback
//! or a private network). Migrations run under an advisory lock so replicas can start together.

mod alerts;

use std::error::Error as _;
use std::ops::Range;
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
    CheckpointRecord, EventQuery, EventRecord, LedgerEntryRecord, LedgerSearch, NewEvent,
    NewLedgerEntry, NewToken, StoreError, TokenKind, TokenRecord, clamp_index, decode_edge,
    decode_hash, encode_edge, normalize_time, to_i64, to_u64,
};
use ledger::{Hash, NodeId, TreeHead, leaf_hash, stored_hash_count};

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
        person: row.try_get(6)?,
        repo: row.try_get(7)?,
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

const TOKEN_COLUMNS: &str = "id, name, kind, hash, created_at, revoked_at, person, repo";
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
                "INSERT INTO api_tokens (name, kind, hash, created_at, person, repo)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .await?;
        let res = client
            .query_one(
                &stmt,
                &[
                    &token.name,
                    &token.kind.as_str(),
                    &token.hash,
                    &created_at,
                    &token.person,
                    &token.repo,
                ],
            )
            .await;
        match res {
            Ok(row) => Ok(TokenRecord {
                id: row.try_get(0)?,
                name: token.name,
                kind: token.kind,
                hash: token.hash,
                person: token.person,
                repo: token.repo,
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
                            what: token.kind.noun(),
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

    pub(crate) async fn revoke_token(
        &self,
        kind: TokenKind,
        name: &str,
    ) -> Result<bool, StoreError> {
        let now = normalize_time(OffsetDateTime::now_utc());
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE api_tokens SET revoked_at = $1
                 WHERE kind = $2 AND name = $3 AND revoked_at IS NULL",
                &[&now, &kind.as_str(), &name],
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

    pub(crate) async fn ledger_append_batch(
        &self,
        entries: Vec<NewLedgerEntry>,
    ) -> Result<(u64, TreeHead), StoreError> {
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The one-row head locked FOR UPDATE serializes appenders across all replicas: the
        // next transaction reads the head this one writes, so leaves form one sequence.
        let row = tx
            .query_one(
                "SELECT size, edge FROM ledger_head WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let size = to_u64("ledger size", row.try_get(0)?)?;
        let edge_bytes: Vec<u8> = row.try_get(1)?;
        let edge = decode_edge(size, &edge_bytes)?;
        if entries.is_empty() {
            return Ok((size, edge.head()));
        }
        let appended = edge.append_batch(&leaves);
        let n = entries.len();
        let mut idx = Vec::with_capacity(n);
        let mut bytes = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut actors = Vec::with_capacity(n);
        let mut events = EventColumns::default();
        for (i, e) in (size..).zip(entries) {
            idx.push(to_i64("ledger index", i)?);
            bytes.push(e.bytes);
            times.push(e.time_micros);
            kinds.push(e.kind);
            actors.push(e.actor);
            if let Some(d) = e.details {
                events.push(d, i)?;
            }
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO ledger_entries (idx, entry, time_us, kind, actor)
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::text[], $5::text[])",
            )
            .await?;
        tx.execute(&stmt, &[&idx, &bytes, &times, &kinds, &actors])
            .await?;
        let base = stored_hash_count(size);
        let mut sidx = Vec::with_capacity(appended.stored.len());
        let mut hashes = Vec::with_capacity(appended.stored.len());
        for (i, s) in (base..).zip(&appended.stored) {
            debug_assert_eq!(s.node.stored_index(), i);
            sidx.push(to_i64("stored index", i)?);
            hashes.push(s.hash.0.to_vec());
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO ledger_hashes (sidx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            )
            .await?;
        tx.execute(&stmt, &[&sidx, &hashes]).await?;
        if !events.kind.is_empty() {
            // As in `append_event`: ids are max(id) + 1 under the table lock, gap-free.
            tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE")
                .await?;
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO events (id, kind, actor, subject, outcome, at, payload)
                     SELECT m.base + u.n, u.kind, u.actor, u.subject, u.outcome, u.at, u.payload
                     FROM (SELECT coalesce(max(id), 0) AS base FROM events) m,
                          unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                 $5::timestamptz[], $6::jsonb[])
                          WITH ORDINALITY AS u(kind, actor, subject, outcome, at, payload, n)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &events.kind,
                    &events.actor,
                    &events.subject,
                    &events.outcome,
                    &events.at,
                    &events.payload,
                ],
            )
            .await?;
        }
        let new_size = to_i64("ledger size", appended.head.size)?;
        tx.execute(
            "UPDATE ledger_head SET size = $1, root = $2, edge = $3 WHERE id = 1",
            &[
                &new_size,
                &&appended.head.root.0[..],
                &encode_edge(&appended.edge),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok((size, appended.head))
    }

    pub(crate) async fn ledger_head(&self) -> Result<TreeHead, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT size, root FROM ledger_head WHERE id = 1", &[])
            .await?;
        let root: Vec<u8> = row.try_get(1)?;
        Ok(TreeHead {
            size: to_u64("ledger size", row.try_get(0)?)?,
            root: decode_hash("ledger root", &root)?,
        })
    }

    pub(crate) async fn ledger_read_hashes(
        &self,
        nodes: Vec<NodeId>,
    ) -> Result<Vec<Hash>, StoreError> {
        let sidx = nodes
            .iter()
            .map(|n| to_i64("stored index", n.stored_index()))
            .collect::<Result<Vec<i64>, _>>()?;
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT s.i, h.hash FROM unnest($1::bigint[]) WITH ORDINALITY AS s(i, ord)
                 LEFT JOIN ledger_hashes h ON h.sidx = s.i ORDER BY s.ord",
                &[&sidx],
            )
            .await?;
        let mut out = Vec::with_capacity(nodes.len());
        for (n, row) in nodes.iter().zip(&rows) {
            let h: Option<Vec<u8>> = row.try_get(1)?;
            let h = h.ok_or_else(|| {
                StoreError::InvalidData(format!(
                    "no stored ledger hash at level {} index {}",
                    n.level, n.index
                ))
            })?;
            out.push(decode_hash("stored ledger hash", &h)?);
        }
        Ok(out)
    }

    pub(crate) async fn ledger_hash_range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let (start, end) = (to_i64("stored index", start)?, to_i64("stored index", end)?);
        let client = self.client().await?;
        // One row per call instead of one per hash (decoding rows dominated the time): the
        // indexes as an array and the hashes concatenated, if every hash is 32 bytes.
        let stmt = client
            .prepare_cached(
                "SELECT coalesce(array_agg(sidx ORDER BY sidx), '{}'),
                        coalesce(string_agg(hash, ''::bytea ORDER BY sidx), ''::bytea),
                        coalesce(bool_and(length(hash) = 32), true)
                 FROM ledger_hashes WHERE sidx >= $1 AND sidx < $2",
            )
            .await?;
        let row = client.query_one(&stmt, &[&start, &end]).await?;
        let (sidx, hashes, all_32): (Vec<i64>, Vec<u8>, bool) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if all_32 && hashes.len() == sidx.len() * 32 {
            return sidx
                .iter()
                .zip(hashes.chunks_exact(32))
                .map(|(&i, h)| {
                    Ok((
                        to_u64("stored index", i)?,
                        decode_hash("stored ledger hash", h)?,
                    ))
                })
                .collect();
        }
        // Row by row, to name the malformed hash.
        let stmt = client
            .prepare_cached(
                "SELECT sidx, hash FROM ledger_hashes WHERE sidx >= $1 AND sidx < $2 ORDER BY sidx",
            )
            .await?;
        let rows = client.query(&stmt, &[&start, &end]).await?;
        rows.iter()
            .map(|row| {
                let h: Vec<u8> = row.try_get(1)?;
                Ok((
                    to_u64("stored index", row.try_get(0)?)?,
                    decode_hash("stored ledger hash", &h)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn ledger_entries(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        let start = to_i64("ledger index", start)?;
        let limit = i64::from(limit);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT idx, entry FROM ledger_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&start, &limit]).await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntryRecord {
                    index: to_u64("ledger index", row.try_get(0)?)?,
                    bytes: row.try_get(1)?,
                })
            })
            .collect()
    }

    pub(crate) async fn ledger_time_span(
        &self,
        since_micros: Option<i64>,
        until_micros: Option<i64>,
    ) -> Result<Option<Range<u64>>, StoreError> {
        let since = since_micros.unwrap_or(i64::MIN);
        let until = until_micros.unwrap_or(i64::MAX);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT min(idx), max(idx) FROM ledger_entries WHERE time_us >= $1 AND time_us < $2",
            )
            .await?;
        let row = client.query_one(&stmt, &[&since, &until]).await?;
        let (first, last): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        match (first, last) {
            (Some(first), Some(last)) => Ok(Some(
                to_u64("ledger index", first)?..to_u64("ledger index", last)? + 1,
            )),
            _ => Ok(None),
        }
    }

    pub(crate) async fn ledger_search(
        &self,
        search: LedgerSearch,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        let (start, end) = (clamp_index(search.start), clamp_index(search.end));
        if start >= end {
            return Ok(Vec::new());
        }
        let limit = i64::from(search.limit);
        let mut sql =
            "SELECT idx, entry FROM ledger_entries WHERE idx >= $1 AND idx < $2".to_owned();
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&start, &end];
        // `time_us + 0`: the index range drives the scan, never the time index (a generic
        // plan cannot tell which is narrower, and the time range may span the whole log).
        if let Some(since) = &search.since_micros {
            args.push(since);
            sql.push_str(&format!(" AND time_us + 0 >= ${}", args.len()));
        }
        if let Some(until) = &search.until_micros {
            args.push(until);
            sql.push_str(&format!(" AND time_us + 0 < ${}", args.len()));
        }
        if let Some(actor) = &search.actor {
            args.push(actor);
            sql.push_str(&format!(" AND actor = ${}", args.len()));
        }
        if !search.kinds.is_empty() {
            args.push(&search.kinds);
            sql.push_str(&format!(" AND kind = ANY(${}::text[])", args.len()));
        }
        sql.push_str(" ORDER BY idx");
        if search.limit > 0 {
            args.push(&limit);
            sql.push_str(&format!(" LIMIT ${}", args.len()));
        }
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client.query(&stmt, &args).await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntryRecord {
                    index: to_u64("ledger index", row.try_get(0)?)?,
                    bytes: row.try_get(1)?,
                })
            })
            .collect()
    }

    pub(crate) async fn ledger_add_checkpoint(
        &self,
        size: u64,
        note: String,
    ) -> Result<CheckpointRecord, StoreError> {
        let created_at = normalize_time(OffsetDateTime::now_utc());
        let size_i = to_i64("checkpoint size", size)?;
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&size_i, &note, &created_at],
            )
            .await?;
        Ok(CheckpointRecord {
            id: row.try_get(0)?,
            size,
            note,
            created_at,
        })
    }

    pub(crate) async fn ledger_checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, size, note, created_at FROM ledger_checkpoints ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CheckpointRecord {
                    id: row.try_get(0)?,
                    size: to_u64("checkpoint size", row.try_get(1)?)?,
                    note: row.try_get(2)?,
                    created_at: normalize_time(row.try_get(3)?),
                })
            })
            .collect()
    }
}

/// Event rows written with their ledger entries, as columns for one `unnest` insert.
#[derive(Default)]
struct EventColumns {
    kind: Vec<String>,
    actor: Vec<String>,
    subject: Vec<String>,
    outcome: Vec<String>,
    at: Vec<OffsetDateTime>,
    payload: Vec<serde_json::Value>,
}

impl EventColumns {
    fn push(&mut self, event: NewEvent, index: u64) -> Result<(), StoreError> {
        let serde_json::Value::Object(mut payload) = event.payload else {
            return Err(StoreError::InvalidData(
                "an event stored with a ledger entry must have an object payload".to_owned(),
            ));
        };
        payload.insert(crate::LEDGER_INDEX_KEY.to_owned(), index.into());
        self.kind.push(event.kind);
        self.actor.push(event.actor);
        self.subject.push(event.subject);
        self.outcome.push(event.outcome);
        self.at.push(normalize_time(event.at));
        self.payload.push(serde_json::Value::Object(payload));
        Ok(())
    }
}

// Budget counters (`UsageStore`).
impl PgStore {
    pub(crate) async fn usage_add(&self, deltas: Vec<crate::UsageDelta>) -> Result<(), StoreError> {
        let rows = crate::usage_rows(deltas)?;
        let n = rows.len();
        let (mut scopes, mut starts, mut ends) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut requests, mut tokens, mut costs) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in rows {
            scopes.push(r.scope);
            starts.push(r.window_start);
            ends.push(r.window_end);
            requests.push(r.requests);
            tokens.push(r.tokens);
            costs.push(r.cost_micro_usd);
        }
        let client = self.client().await?;
        // One statement, so one transaction; the rows come sorted by key (see `UsageRow`),
        // so replicas flushing overlapping counters lock them in the same order.
        let stmt = client
            .prepare_cached(
                "INSERT INTO usage_counters
                     (scope, window_start, window_end, requests, tokens, cost_micro_usd)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],
                                      $5::bigint[], $6::bigint[])
                 ON CONFLICT (scope, window_start) DO UPDATE SET
                     window_end = greatest(usage_counters.window_end, EXCLUDED.window_end),
                     requests = usage_counters.requests + EXCLUDED.requests,
                     tokens = usage_counters.tokens + EXCLUDED.tokens,
                     cost_micro_usd = usage_counters.cost_micro_usd + EXCLUDED.cost_micro_usd",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[&scopes, &starts, &ends, &requests, &tokens, &costs],
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn usage_totals(
        &self,
        keys: Vec<crate::UsageKey>,
    ) -> Result<Vec<crate::UsageTotals>, StoreError> {
        let scopes: Vec<&str> = keys.iter().map(|k| k.scope.as_str()).collect();
        let starts: Vec<i64> = keys.iter().map(|k| k.window_start).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT k.i, c.requests, c.tokens, c.cost_micro_usd
                 FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(scope, window_start, i)
                 JOIN usage_counters c
                   ON c.scope = k.scope AND c.window_start = k.window_start",
            )
            .await?;
        let mut out = vec![crate::UsageTotals::default(); keys.len()];
        for row in client.query(&stmt, &[&scopes, &starts]).await? {
            let i: i64 = row.try_get(0)?;
            let slot = usize::try_from(i - 1)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| StoreError::InvalidData(format!("usage row {i} out of range")))?;
            *slot = crate::usage_totals_from(row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)?;
        }
        Ok(out)
    }

    pub(crate) async fn usage_prune(&self, ended_by: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM usage_counters WHERE window_end <= $1",
                &[&ended_by],
            )
            .await?)
    }
}

/// Key of the transaction advisory lock taken while claiming webhook deliveries ("aigov_wh").
const DELIVERY_CLAIM_LOCK_KEY: i64 = 0x6169_676f_765f_7768;

// Webhook deliveries and change records (`ChangeStore`).
impl PgStore {
    pub(crate) async fn insert_deliveries(
        &self,
        deliveries: Vec<crate::NewDelivery>,
    ) -> Result<Vec<crate::DeliveryInsert>, StoreError> {
        let n = deliveries.len();
        let (mut forges, mut ids, mut events, mut times, mut bodies) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for d in deliveries {
            forges.push(d.forge);
            ids.push(d.delivery_id);
            events.push(d.event);
            times.push(normalize_time(d.received_at));
            bodies.push(d.body);
        }
        let client = self.client().await?;
        // One statement: race-free against other replicas inserting the same delivery.
        let stmt = client
            .prepare_cached(
                "WITH input AS (
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[],
                                          $4::timestamptz[], $5::bytea[])
                         AS t(forge, delivery_id, event, received_at, body)
                 ), inserted AS (
                     INSERT INTO webhook_deliveries
                         (forge, delivery_id, event, received_at, body_bytes)
                     SELECT forge, delivery_id, event, received_at, length(body) FROM input
                     ON CONFLICT (forge, delivery_id) DO NOTHING
                     RETURNING id, forge, delivery_id
                 ), bodies AS (
                     INSERT INTO webhook_delivery_bodies (delivery, body)
                     SELECT inserted.id, input.body
                     FROM inserted JOIN input USING (forge, delivery_id)
                 )
                 SELECT forge, delivery_id FROM inserted",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&forges, &ids, &events, &times, &bodies])
            .await?;
        let mut inserted = std::collections::HashSet::with_capacity(rows.len());
        for row in rows {
            inserted.insert((row.try_get::<_, String>(0)?, row.try_get::<_, String>(1)?));
        }
        Ok(forges
            .into_iter()
            .zip(ids)
            .map(|key| {
                if inserted.contains(&key) {
                    crate::DeliveryInsert::Inserted
                } else {
                    crate::DeliveryInsert::Duplicate
                }
            })
            .collect())
    }

    pub(crate) async fn claim_deliveries(
        &self,
        claimant: String,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<crate::ClaimedDelivery>, StoreError> {
        let now = crate::changes::unix_micros(OffsetDateTime::now_utc());
        let expires = now.saturating_add(crate::changes::lease_micros(lease));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Claims are serialized across replicas, so the check below and the claim are atomic.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&DELIVERY_CLAIM_LOCK_KEY],
        )
        .await?;
        let busy = tx
            .query_opt(
                "SELECT 1 FROM webhook_deliveries
                 WHERE state = 'pending' AND claimed_by IS NOT NULL
                   AND claimed_by <> $1 AND claim_expires_us > $2 LIMIT 1",
                &[&claimant, &now],
            )
            .await?
            .is_some();
        if busy {
            return Ok(Vec::new());
        }
        let rows = tx
            .query(
                "WITH claimed AS (
                     UPDATE webhook_deliveries SET claimed_by = $1, claim_expires_us = $2
                     WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending'
                                  ORDER BY id LIMIT $3)
                     RETURNING id, forge, delivery_id, event, received_at
                 )
                 SELECT c.id, c.forge, c.delivery_id, c.event, c.received_at, b.body
                 FROM claimed AS c JOIN webhook_delivery_bodies AS b ON b.delivery = c.id",
                &[&claimant, &expires, &i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        let mut out = rows
            .iter()
            .map(|row| {
                Ok(crate::ClaimedDelivery {
                    id: row.try_get(0)?,
                    forge: row.try_get(1)?,
                    delivery_id: row.try_get(2)?,
                    event: row.try_get(3)?,
                    received_at: row.try_get(4)?,
                    body: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    pub(crate) async fn finish_deliveries(
        &self,
        claimant: String,
        outcomes: Vec<crate::DeliveryOutcome>,
        records: Vec<crate::StoredChangeRecord>,
        branches: Vec<crate::StoredBranch>,
    ) -> Result<(), StoreError> {
        let now = normalize_time(OffsetDateTime::now_utc());
        let ids: Vec<i64> = outcomes.iter().map(|o| o.id).collect();
        let states: Vec<&str> = outcomes.iter().map(|o| o.state.as_str()).collect();
        let errors: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_deref()).collect();
        let n = records.len();
        let (mut forges, mut repos, mut numbers, mut values, mut times) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in records {
            numbers.push(to_i64("pull request number", r.number)?);
            forges.push(r.forge);
            repos.push(r.repo);
            values.push(r.record);
            times.push(normalize_time(r.updated_at));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let marked = tx
            .execute(
                "UPDATE webhook_deliveries AS d
                 SET state = u.state, error = u.error, processed_at = $4,
                     claimed_by = NULL, claim_expires_us = NULL
                 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, state, error)
                 WHERE d.id = u.id AND d.state = 'pending' AND d.claimed_by = $5",
                &[&ids, &states, &errors, &now, &claimant],
            )
            .await?;
        let lost = ids.len() - usize::try_from(marked).unwrap_or(usize::MAX).min(ids.len());
        if lost > 0 {
            // Dropping the transaction rolls it back.
            return Err(StoreError::ClaimLost { count: lost });
        }
        if !forges.is_empty() {
            tx.execute(
                "INSERT INTO change_records (forge, repo, number, record, updated_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[],
                                      $5::timestamptz[])
                 ON CONFLICT (forge, repo, number) DO UPDATE SET
                     record = EXCLUDED.record, updated_at = EXCLUDED.updated_at",
                &[&forges, &repos, &numbers, &values, &times],
            )
            .await?;
        }
        for b in &branches {
            if b.commits.as_array().is_some_and(Vec::is_empty) {
                tx.execute(
                    "DELETE FROM branch_commits WHERE forge = $1 AND repo = $2 AND branch = $3",
                    &[&b.forge, &b.repo, &b.branch],
                )
                .await?;
            } else {
                tx.execute(
                    "INSERT INTO branch_commits (forge, repo, branch, commits, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (forge, repo, branch) DO UPDATE SET
                         commits = EXCLUDED.commits, updated_at = EXCLUDED.updated_at",
                    &[
                        &b.forge,
                        &b.repo,
                        &b.branch,
                        &b.commits,
                        &normalize_time(b.updated_at),
                    ],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn branch_commits(
        &self,
        forge: String,
        repo: String,
    ) -> Result<Vec<crate::StoredBranch>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT forge, repo, branch, commits, updated_at FROM branch_commits
                 WHERE forge = $1 AND repo = $2 ORDER BY branch",
                &[&forge, &repo],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::StoredBranch {
                    forge: row.try_get(0)?,
                    repo: row.try_get(1)?,
                    branch: row.try_get(2)?,
                    commits: row.try_get(3)?,
                    updated_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    pub(crate) async fn change_records(
        &self,
        forge: String,
        repo: String,
        number: Option<u64>,
    ) -> Result<Vec<crate::StoredChangeRecord>, StoreError> {
        let number = number
            .map(|n| to_i64("pull request number", n))
            .transpose()?;
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT forge, repo, number, record, updated_at FROM change_records
                 WHERE forge = $1 AND repo = $2 AND ($3::bigint IS NULL OR number = $3)
                 ORDER BY number",
                &[&forge, &repo, &number],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::StoredChangeRecord {
                    forge: row.try_get(0)?,
                    repo: row.try_get(1)?,
                    number: to_u64("pull request number", row.try_get(2)?)?,
                    record: row.try_get(3)?,
                    updated_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    pub(crate) async fn webhook_delivery(
        &self,
        forge: String,
        delivery_id: String,
    ) -> Result<Option<crate::DeliveryRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, forge, delivery_id, event, received_at, body_bytes, state, error,
                        processed_at
                 FROM webhook_deliveries WHERE forge = $1 AND delivery_id = $2",
                &[&forge, &delivery_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get(6)?;
        Ok(Some(crate::DeliveryRecord {
            id: row.try_get(0)?,
            forge: row.try_get(1)?,
            delivery_id: row.try_get(2)?,
            event: row.try_get(3)?,
            received_at: row.try_get(4)?,
            body_bytes: to_u64("body length", row.try_get(5)?)?,
            state: state.parse()?,
            error: row.try_get(7)?,
            processed_at: row.try_get(8)?,
        }))
    }

    pub(crate) async fn delivery_counts(&self) -> Result<crate::DeliveryCounts, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT state, count(*) FROM webhook_deliveries GROUP BY state",
                &[],
            )
            .await?;
        let mut counts = crate::DeliveryCounts::default();
        for row in rows {
            let state: String = row.try_get(0)?;
            crate::changes::count_state(&mut counts, &state, row.try_get(1)?)?;
        }
        Ok(counts)
    }
}

// Deployment authorizations (`DeployStore`).
impl PgStore {
    pub(crate) async fn insert_deploy_authorization(
        &self,
        a: crate::NewDeployAuthorization,
    ) -> Result<crate::DeployAuthorization, StoreError> {
        let index = to_i64("ledger index", a.ledger_index)?;
        let authorized_at = normalize_time(a.authorized_at);
        let expires_at = normalize_time(a.expires_at);
        let due = a.retro_review_due.map(normalize_time);
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO deploy_authorizations
                     (app, environment, repo, commit_sha, kind, approver, reason, authorized_at,
                      expires_at, envelope, details, ledger_index, retro_review_due)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id",
                &[
                    &a.app,
                    &a.environment,
                    &a.repo,
                    &a.commit_sha,
                    &a.kind.as_str(),
                    &a.approver,
                    &a.reason,
                    &authorized_at,
                    &expires_at,
                    &a.envelope,
                    &a.details,
                    &index,
                    &due,
                ],
            )
            .await?;
        Ok(crate::DeployAuthorization::new(row.try_get(0)?, a))
    }

    pub(crate) async fn select_deploy_authorizations(
        &self,
        query: crate::deploys::DeployQuery,
    ) -> Result<Vec<crate::DeployAuthorization>, StoreError> {
        use crate::deploys::{DEPLOY_COLUMNS, DeployQuery};
        let client = self.client().await?;
        let rows = match query {
            DeployQuery::Id(id) => {
                client
                    .query(
                        &format!(
                            "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations WHERE id = $1"
                        ),
                        &[&id],
                    )
                    .await?
            }
            DeployQuery::Commit {
                app,
                environment,
                commit_sha,
            } => {
                client
                    .query(
                        &format!(
                            "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                             WHERE app = $1 AND environment = $2 AND commit_sha = $3
                             ORDER BY id DESC LIMIT 1"
                        ),
                        &[&app, &environment, &commit_sha],
                    )
                    .await?
            }
            DeployQuery::Target {
                app,
                environment,
                limit,
            } => {
                client
                    .query(
                        &format!(
                            "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                             WHERE app = $1 AND environment = $2 ORDER BY id DESC LIMIT $3"
                        ),
                        &[&app, &environment, &i64::from(limit)],
                    )
                    .await?
            }
            DeployQuery::RetroDue(before) => {
                client
                    .query(
                        &format!(
                            "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                             WHERE kind = 'break-glass' AND retro_reviewed_at IS NULL
                               AND retro_review_due < $1
                             ORDER BY retro_review_due, id"
                        ),
                        &[&normalize_time(before)],
                    )
                    .await?
            }
        };
        rows.iter()
            .map(|row| deploy_from_row(row)?.decode())
            .collect()
    }

    pub(crate) async fn revoke_deploy_authorization(
        &self,
        id: i64,
        r: crate::Revocation,
    ) -> Result<bool, StoreError> {
        let index = to_i64("ledger index", r.ledger_index)?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE deploy_authorizations
                 SET revoked_at = $1, revoked_by = $2, revoked_reason = $3,
                     revoked_ledger_index = $4, revocation_details = $5
                 WHERE id = $6 AND revoked_at IS NULL",
                &[
                    &normalize_time(r.at),
                    &r.by,
                    &r.reason,
                    &index,
                    &r.details,
                    &id,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn record_retro_review(
        &self,
        id: i64,
        r: crate::RetroReview,
    ) -> Result<bool, StoreError> {
        let index = to_i64("ledger index", r.ledger_index)?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE deploy_authorizations
                 SET retro_reviewed_at = $1, retro_reviewed_by = $2, retro_review_notes = $3,
                     retro_review_ledger_index = $4
                 WHERE id = $5 AND kind = 'break-glass' AND retro_reviewed_at IS NULL",
                &[&normalize_time(r.at), &r.by, &r.notes, &index, &id],
            )
            .await?;
        Ok(n == 1)
    }
}

fn deploy_from_row(row: &Row) -> Result<crate::deploys::DeployRow, StoreError> {
    Ok(crate::deploys::DeployRow {
        id: row.try_get(0)?,
        app: row.try_get(1)?,
        environment: row.try_get(2)?,
        repo: row.try_get(3)?,
        commit_sha: row.try_get(4)?,
        kind: row.try_get(5)?,
        approver: row.try_get(6)?,
        reason: row.try_get(7)?,
        authorized_at: row.try_get(8)?,
        expires_at: row.try_get(9)?,
        envelope: row.try_get(10)?,
        details: row.try_get(11)?,
        ledger_index: row.try_get(12)?,
        retro_review_due: row.try_get(13)?,
        revoked_at: row.try_get(14)?,
        revoked_by: row.try_get(15)?,
        revoked_reason: row.try_get(16)?,
        revoked_ledger_index: row.try_get(17)?,
        revocation_details: row.try_get(18)?,
        retro_reviewed_at: row.try_get(19)?,
        retro_reviewed_by: row.try_get(20)?,
        retro_review_notes: row.try_get(21)?,
        retro_review_ledger_index: row.try_get(22)?,
    })
}
