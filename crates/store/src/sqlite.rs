//! Embedded SQLite backend: one file in WAL mode, one writer connection behind a mutex plus a few
//! reader connections; every call runs on tokio's blocking pool.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod alerts;

use ledger::{Hash, NodeId, TreeHead, leaf_hash, stored_hash_count};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::migrations::{LATEST_SCHEMA_VERSION, MIGRATIONS, SQLITE_BOOTSTRAP};
use crate::{
    CheckpointRecord, EventQuery, EventRecord, LedgerEntryRecord, LedgerSearch, NewEvent,
    NewLedgerEntry, NewToken, StoreError, TokenKind, TokenRecord, clamp_index, decode_edge,
    decode_hash, encode_edge, normalize_time, to_i64, to_u64,
};

/// Number of read-only connections (WAL lets them read while the writer writes).
const READERS: usize = 4;
/// WAL pages (4 KiB) after which the ledger writer checkpoints (SQLite's default is 1000).
const LEDGER_WAL_AUTOCHECKPOINT: i64 = 16_384;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Fixed-width UTC timestamp: text order equals time order.
const TS_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

struct Shared {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// The audit ledger's own writer (so ledger batches never queue behind other writes).
    /// `synchronous = NORMAL` by default: a returned commit is in the WAL file and survives
    /// SIGKILL of the process; [`SqliteStore::set_ledger_power_safe`] switches to `FULL`
    /// (fsync per group commit), which also survives power loss.
    ledger_writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

#[derive(Clone)]
pub(crate) struct SqliteStore {
    shared: Arc<Shared>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock rolls back any open transaction (Transaction's Drop), so
    // the connection is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn reader(&self) -> MutexGuard<'_, Connection> {
        for m in &self.readers {
            if let Ok(guard) = m.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }
}

async fn blocking<R, F>(f: F) -> Result<R, StoreError>
where
    F: FnOnce() -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

/// An event row to write with its ledger entry, encoded ahead of the write lock.
struct EncodedEvent {
    event: NewEvent,
    at: String,
    /// The payload object's members after its `{` (`}` alone when it is empty).
    rest: String,
}

impl EncodedEvent {
    fn new(event: NewEvent) -> Result<EncodedEvent, StoreError> {
        if !event.payload.is_object() {
            return Err(StoreError::InvalidData(
                "an event stored with a ledger entry must have an object payload".to_owned(),
            ));
        }
        let text = serde_json::to_string(&event.payload)
            .map_err(|e| StoreError::InvalidData(format!("cannot encode event payload: {e}")))?;
        Ok(EncodedEvent {
            at: format_time(normalize_time(event.at))?,
            rest: text[1..].to_owned(),
            event,
        })
    }

    /// The payload with [`crate::LEDGER_INDEX_KEY`] as its first member.
    fn payload_with_index(&self, index: u64) -> String {
        let sep = if self.rest == "}" { "" } else { "," };
        format!(
            "{{\"{}\":{index}{sep}{}",
            crate::LEDGER_INDEX_KEY,
            self.rest
        )
    }
}

pub(crate) fn format_time(t: OffsetDateTime) -> Result<String, StoreError> {
    normalize_time(t)
        .format(TS_FORMAT)
        .map_err(|e| StoreError::InvalidData(format!("cannot format timestamp {t}: {e}")))
}

pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    if let Ok(t) = PrimitiveDateTime::parse(s, TS_FORMAT) {
        return Ok(t.assume_utc());
    }
    // Lenient fallback for rows written by hand or by SQL functions.
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(normalize_time)
        .map_err(|e| StoreError::InvalidData(format!("malformed timestamp `{s}`: {e}")))
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::SqliteOpen {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let conn = open_connection(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::SqliteOpen {
            path: path.to_path_buf(),
            message: format!("cannot enable WAL mode (journal mode is `{mode}`)"),
        });
    }
    Ok(conn)
}

fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    u32::try_from(v)
        .map_err(|_| StoreError::InvalidData(format!("schema version {v} out of range")))
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(SQLITE_BOOTSTRAP)?;
    let found = current_version(conn)?;
    if found > LATEST_SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST_SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |message: String| StoreError::Migration {
            version: m.version,
            name: m.name,
            message,
        };
        // IMMEDIATE takes the write lock up front, so another process opening the same file
        // waits here (busy_timeout) and then sees the migration as done.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| fail(e.to_string()))?;
        let now = current_version(&tx)?;
        if now > LATEST_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: now,
                supported: LATEST_SCHEMA_VERSION,
            });
        }
        if now >= m.version {
            continue;
        }
        tx.execute_batch(m.sqlite)
            .map_err(|e| fail(e.to_string()))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, format_time(OffsetDateTime::now_utc())?],
        )
        .map_err(|e| fail(e.to_string()))?;
        tx.commit().map_err(|e| fail(e.to_string()))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied sqlite migration"
        );
    }
    Ok(())
}

fn token_from_row(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    let kind: String = row.get(2)?;
    let created_at: String = row.get(4)?;
    let revoked_at: Option<String> = row.get(5)?;
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: kind.parse::<TokenKind>()?,
        hash: row.get(3)?,
        person: row.get(6)?,
        repo: row.get(7)?,
        created_at: parse_time(&created_at)?,
        revoked_at: revoked_at.as_deref().map(parse_time).transpose()?,
    })
}

fn event_from_row(row: &Row<'_>) -> Result<EventRecord, StoreError> {
    let at: String = row.get(5)?;
    let payload: String = row.get(6)?;
    Ok(EventRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        actor: row.get(2)?,
        subject: row.get(3)?,
        outcome: row.get(4)?,
        at: parse_time(&at)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::InvalidData(format!("malformed event payload: {e}")))?,
    })
}

const TOKEN_COLUMNS: &str = "id, name, kind, hash, created_at, revoked_at, person, repo";
const EVENT_COLUMNS: &str = "id, kind, actor, subject, outcome, at, payload";

fn is_unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(err, msg)
            if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Some(msg.as_deref().unwrap_or(""))
        }
        _ => None,
    }
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        blocking(move || {
            let mut writer = open_writer(&path)?;
            migrate(&mut writer)?;
            let ledger_writer = open_writer(&path)?;
            // Ledger batches write megabytes per second: checkpoint the WAL into the database
            // less often (each checkpoint fsyncs), in larger steps.
            ledger_writer
                .pragma_update(None, "wal_autocheckpoint", LEDGER_WAL_AUTOCHECKPOINT)
                .and_then(|()| ledger_writer.pragma_update(None, "cache_size", -65_536))
                .map_err(|e| StoreError::SqliteOpen {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let conn = open_connection(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|c| {
                    c.pragma_update(None, "query_only", "ON")?;
                    Ok(c)
                })
                .map_err(|e| StoreError::SqliteOpen {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                readers.push(Mutex::new(conn));
            }
            tracing::debug!(path = %path.display(), "opened sqlite store");
            Ok(SqliteStore {
                shared: Arc::new(Shared {
                    path,
                    writer: Mutex::new(writer),
                    ledger_writer: Mutex::new(ledger_writer),
                    readers,
                    next_reader: AtomicUsize::new(0),
                }),
            })
        })
        .await
    }

    pub(crate) fn path(&self) -> &Path {
        &self.shared.path
    }

    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared.clone();
        blocking(move || f(&shared.reader())).await
    }

    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared.clone();
        blocking(move || f(&mut lock(&shared.writer))).await
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(current_version).await
    }

    pub(crate) async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        let created_at = normalize_time(OffsetDateTime::now_utc());
        let created_text = format_time(created_at)?;
        self.write(move |c| {
            let res = c.execute(
                "INSERT INTO api_tokens (name, kind, hash, created_at, person, repo)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token.name,
                    token.kind.as_str(),
                    token.hash,
                    created_text,
                    token.person,
                    token.repo
                ],
            );
            match res {
                Ok(_) => Ok(TokenRecord {
                    id: c.last_insert_rowid(),
                    name: token.name,
                    kind: token.kind,
                    hash: token.hash,
                    person: token.person,
                    repo: token.repo,
                    created_at,
                    revoked_at: None,
                }),
                Err(e) => Err(match is_unique_violation(&e) {
                    Some(msg) if msg.contains("hash") => StoreError::Duplicate {
                        what: "token hash",
                        name: token.hash,
                    },
                    Some(_) => StoreError::Duplicate {
                        what: token.kind.noun(),
                        name: token.name,
                    },
                    None => e.into(),
                }),
            }
        })
        .await
    }

    pub(crate) async fn active_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL"
            ))?;
            stmt.query_row([&hash], |row| Ok(token_from_row(row)))
                .optional()?
                .transpose()
        })
        .await
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(token_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn revoke_token(
        &self,
        kind: TokenKind,
        name: &str,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let now = format_time(OffsetDateTime::now_utc())?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE api_tokens SET revoked_at = ?1
                 WHERE kind = ?2 AND name = ?3 AND revoked_at IS NULL",
                params![now, kind.as_str(), name],
            )?;
            Ok(n > 0)
        })
        .await
    }

    pub(crate) async fn append_event(&self, event: NewEvent) -> Result<EventRecord, StoreError> {
        let at = normalize_time(event.at);
        let at_text = format_time(at)?;
        let payload_text = serde_json::to_string(&event.payload)
            .map_err(|e| StoreError::InvalidData(format!("cannot encode event payload: {e}")))?;
        self.write(move |c| {
            // Single writer + rowid alias without AUTOINCREMENT: id = max(id) + 1, gap-free.
            let mut stmt = c.prepare_cached(
                "INSERT INTO events (kind, actor, subject, outcome, at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            )?;
            let id: i64 = stmt.query_row(
                params![
                    event.kind,
                    event.actor,
                    event.subject,
                    event.outcome,
                    at_text,
                    payload_text
                ],
                |r| r.get(0),
            )?;
            Ok(EventRecord {
                id,
                kind: event.kind,
                actor: event.actor,
                subject: event.subject,
                outcome: event.outcome,
                at,
                payload: event.payload,
            })
        })
        .await
    }

    pub(crate) async fn list_events(
        &self,
        query: EventQuery,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(kind) = query.kind.clone() {
            args.push(Value::Text(kind));
            sql.push_str(&format!(" AND kind = ?{}", args.len()));
        }
        if let Some(actor) = query.actor.clone() {
            args.push(Value::Text(actor));
            sql.push_str(&format!(" AND actor = ?{}", args.len()));
        }
        if let Some(since) = query.since {
            args.push(Value::Text(format_time(since)?));
            sql.push_str(&format!(" AND at >= ?{}", args.len()));
        }
        if let Some(after) = query.after_id {
            args.push(Value::Integer(after));
            sql.push_str(&format!(" AND id > ?{}", args.len()));
        }
        args.push(Value::Integer(i64::from(query.effective_limit())));
        sql.push_str(&format!(" ORDER BY id LIMIT ?{}", args.len()));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(event_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn set_ledger_power_safe(&self, on: bool) -> Result<(), StoreError> {
        let shared = self.shared.clone();
        blocking(move || {
            let mode = if on { "FULL" } else { "NORMAL" };
            lock(&shared.ledger_writer).pragma_update(None, "synchronous", mode)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn ledger_append_batch(
        &self,
        entries: Vec<NewLedgerEntry>,
    ) -> Result<(u64, TreeHead), StoreError> {
        let shared = self.shared.clone();
        // Details rows are encoded before the write lock is taken.
        let mut entries = entries;
        let details = entries
            .iter_mut()
            .map(|e| e.details.take().map(EncodedEvent::new).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        blocking(move || {
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
            let mut conn = lock(&shared.ledger_writer);
            // IMMEDIATE takes SQLite's write lock first: appenders in other processes wait, and
            // the head read below is the one this transaction extends.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (size, edge): (i64, Vec<u8>) = tx
                .prepare_cached("SELECT size, edge FROM ledger_head WHERE id = 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let size = to_u64("ledger size", size)?;
            let edge = decode_edge(size, &edge)?;
            if entries.is_empty() {
                return Ok((size, edge.head()));
            }
            let appended = edge.append_batch(&leaves);
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO ledger_entries (idx, entry, time_us, kind, actor)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (i, e) in (size..).zip(&entries) {
                    ins.execute(params![
                        to_i64("ledger index", i)?,
                        e.bytes,
                        e.time_micros,
                        e.kind,
                        e.actor
                    ])?;
                }
                let mut ins =
                    tx.prepare_cached("INSERT INTO ledger_hashes (sidx, hash) VALUES (?1, ?2)")?;
                let base = stored_hash_count(size);
                for (sidx, s) in (base..).zip(&appended.stored) {
                    debug_assert_eq!(s.node.stored_index(), sidx);
                    ins.execute(params![to_i64("stored index", sidx)?, &s.hash.0[..]])?;
                }
                if details.iter().any(Option::is_some) {
                    // Single writer + rowid alias: ids stay max(id) + 1, gap-free.
                    let mut ins = tx.prepare_cached(
                        "INSERT INTO events (kind, actor, subject, outcome, at, payload)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    for (i, d) in (size..).zip(&details) {
                        if let Some(d) = d {
                            ins.execute(params![
                                d.event.kind,
                                d.event.actor,
                                d.event.subject,
                                d.event.outcome,
                                d.at,
                                d.payload_with_index(i),
                            ])?;
                        }
                    }
                }
                tx.prepare_cached(
                    "UPDATE ledger_head SET size = ?1, root = ?2, edge = ?3 WHERE id = 1",
                )?
                .execute(params![
                    to_i64("ledger size", appended.head.size)?,
                    &appended.head.root.0[..],
                    encode_edge(&appended.edge)
                ])?;
            }
            tx.commit()?;
            Ok((size, appended.head))
        })
        .await
    }

    pub(crate) async fn ledger_head(&self) -> Result<TreeHead, StoreError> {
        self.read(|c| {
            let (size, root): (i64, Vec<u8>) =
                c.query_row("SELECT size, root FROM ledger_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            Ok(TreeHead {
                size: to_u64("ledger size", size)?,
                root: decode_hash("ledger root", &root)?,
            })
        })
        .await
    }

    pub(crate) async fn ledger_read_hashes(
        &self,
        nodes: Vec<NodeId>,
    ) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT hash FROM ledger_hashes WHERE sidx = ?1")?;
            let mut out = Vec::with_capacity(nodes.len());
            for n in nodes {
                let sidx = to_i64("stored index", n.stored_index())?;
                let h: Option<Vec<u8>> = stmt.query_row([sidx], |r| r.get(0)).optional()?;
                let h = h.ok_or_else(|| {
                    StoreError::InvalidData(format!(
                        "no stored ledger hash at level {} index {}",
                        n.level, n.index
                    ))
                })?;
                out.push(decode_hash("stored ledger hash", &h)?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn ledger_hash_range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let (start, end) = (to_i64("stored index", start)?, to_i64("stored index", end)?);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT sidx, hash FROM ledger_hashes WHERE sidx >= ?1 AND sidx < ?2 ORDER BY sidx",
            )?;
            let mut rows = stmt.query([start, end])?;
            let mut out =
                Vec::with_capacity(usize::try_from(end - start).unwrap_or(0).min(1 << 20));
            while let Some(row) = rows.next()? {
                // Borrowed from the row: no allocation per hash.
                let h = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                out.push((
                    to_u64("stored index", row.get(0)?)?,
                    decode_hash("stored ledger hash", h)?,
                ));
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn ledger_entries(
        &self,
        start: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        let start = to_i64("ledger index", start)?;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, entry FROM ledger_entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![start, i64::from(limit)])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(LedgerEntryRecord {
                    index: to_u64("ledger index", row.get(0)?)?,
                    bytes: row.get(1)?,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn ledger_time_span(
        &self,
        since_micros: Option<i64>,
        until_micros: Option<i64>,
    ) -> Result<Option<Range<u64>>, StoreError> {
        let since = since_micros.unwrap_or(i64::MIN);
        let until = until_micros.unwrap_or(i64::MAX);
        self.read(move |c| {
            // Served from the time index alone (it holds the rowid, which is `idx`).
            let mut stmt = c.prepare_cached(
                "SELECT min(idx), max(idx) FROM ledger_entries WHERE time_us >= ?1 AND time_us < ?2",
            )?;
            let (first, last): (Option<i64>, Option<i64>) =
                stmt.query_row([since, until], |r| Ok((r.get(0)?, r.get(1)?)))?;
            match (first, last) {
                (Some(first), Some(last)) => Ok(Some(
                    to_u64("ledger index", first)?..to_u64("ledger index", last)? + 1,
                )),
                _ => Ok(None),
            }
        })
        .await
    }

    pub(crate) async fn ledger_search(
        &self,
        search: LedgerSearch,
    ) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        let (start, end) = (clamp_index(search.start), clamp_index(search.end));
        if start >= end {
            return Ok(Vec::new());
        }
        // The index range drives the scan; `+time_us` keeps SQLite from scanning the time
        // index instead (across the whole log, once per page).
        let mut sql =
            "SELECT idx, entry FROM ledger_entries WHERE idx >= ?1 AND idx < ?2".to_owned();
        let mut args = vec![Value::Integer(start), Value::Integer(end)];
        let mut arg = |v: Value| {
            args.push(v);
            format!("?{}", args.len())
        };
        if let Some(since) = search.since_micros {
            sql.push_str(&format!(" AND +time_us >= {}", arg(Value::Integer(since))));
        }
        if let Some(until) = search.until_micros {
            sql.push_str(&format!(" AND +time_us < {}", arg(Value::Integer(until))));
        }
        if let Some(actor) = search.actor {
            sql.push_str(&format!(" AND actor = {}", arg(Value::Text(actor))));
        }
        if !search.kinds.is_empty() {
            let marks: Vec<String> = search
                .kinds
                .into_iter()
                .map(|k| arg(Value::Text(k)))
                .collect();
            sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
        }
        sql.push_str(" ORDER BY idx");
        if search.limit > 0 {
            sql.push_str(&format!(
                " LIMIT {}",
                arg(Value::Integer(i64::from(search.limit)))
            ));
        }
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(LedgerEntryRecord {
                    index: to_u64("ledger index", row.get(0)?)?,
                    bytes: row.get(1)?,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn ledger_add_checkpoint(
        &self,
        size: u64,
        note: String,
    ) -> Result<CheckpointRecord, StoreError> {
        let created_at = normalize_time(OffsetDateTime::now_utc());
        let created_text = format_time(created_at)?;
        let size_i = to_i64("checkpoint size", size)?;
        let shared = self.shared.clone();
        blocking(move || {
            let conn = lock(&shared.ledger_writer);
            conn.execute(
                "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
                params![size_i, note, created_text],
            )?;
            Ok(CheckpointRecord {
                id: conn.last_insert_rowid(),
                size,
                note,
                created_at,
            })
        })
        .await
    }

    pub(crate) async fn ledger_checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, size, note, created_at FROM ledger_checkpoints ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let created: String = row.get(3)?;
                out.push(CheckpointRecord {
                    id: row.get(0)?,
                    size: to_u64("checkpoint size", row.get(1)?)?,
                    note: row.get(2)?,
                    created_at: parse_time(&created)?,
                });
            }
            Ok(out)
        })
        .await
    }
}

// Budget counters (`UsageStore`).
impl SqliteStore {
    pub(crate) async fn usage_add(&self, deltas: Vec<crate::UsageDelta>) -> Result<(), StoreError> {
        let rows = crate::usage_rows(deltas)?;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO usage_counters
                         (scope, window_start, window_end, requests, tokens, cost_micro_usd)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (scope, window_start) DO UPDATE SET
                         window_end = max(window_end, excluded.window_end),
                         requests = requests + excluded.requests,
                         tokens = tokens + excluded.tokens,
                         cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd",
                )?;
                for r in &rows {
                    stmt.execute(params![
                        r.scope,
                        r.window_start,
                        r.window_end,
                        r.requests,
                        r.tokens,
                        r.cost_micro_usd
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn usage_totals(
        &self,
        keys: Vec<crate::UsageKey>,
    ) -> Result<Vec<crate::UsageTotals>, StoreError> {
        self.read(move |c| {
            // One read transaction: every total from the same snapshot.
            let tx = c.unchecked_transaction()?;
            let mut out = Vec::with_capacity(keys.len());
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT requests, tokens, cost_micro_usd FROM usage_counters
                     WHERE scope = ?1 AND window_start = ?2",
                )?;
                for k in &keys {
                    let row = stmt
                        .query_row(params![k.scope, k.window_start], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, i64>(2)?,
                            ))
                        })
                        .optional()?;
                    out.push(match row {
                        Some((requests, tokens, cost)) => {
                            crate::usage_totals_from(requests, tokens, cost)?
                        }
                        None => crate::UsageTotals::default(),
                    });
                }
            }
            tx.finish()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn usage_prune(&self, ended_by: i64) -> Result<u64, StoreError> {
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM usage_counters WHERE window_end <= ?1",
                params![ended_by],
            )?;
            Ok(n as u64)
        })
        .await
    }
}

// Webhook deliveries and change records (`ChangeStore`). Deliveries are written through the
// ledger's writer connection: an accepted delivery is exactly as durable as an audit entry
// (`set_ledger_power_safe`), and intake, processing and ledger appends queue on one mutex
// instead of contending for SQLite's write lock (whose busy handler sleeps).
impl SqliteStore {
    async fn write_durable<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared.clone();
        blocking(move || f(&mut lock(&shared.ledger_writer))).await
    }

    pub(crate) async fn insert_deliveries(
        &self,
        deliveries: Vec<crate::NewDelivery>,
    ) -> Result<Vec<crate::DeliveryInsert>, StoreError> {
        let times = deliveries
            .iter()
            .map(|d| format_time(d.received_at))
            .collect::<Result<Vec<_>, _>>()?;
        self.write_durable(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(deliveries.len());
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO webhook_deliveries
                         (forge, delivery_id, event, received_at, body_bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (forge, delivery_id) DO NOTHING",
                )?;
                let mut body = tx.prepare_cached(
                    "INSERT INTO webhook_delivery_bodies (delivery, body) VALUES (?1, ?2)",
                )?;
                for (d, at) in deliveries.iter().zip(&times) {
                    let len = to_i64("body length", d.body.len() as u64)?;
                    let n = ins.execute(params![d.forge, d.delivery_id, d.event, at, len])?;
                    out.push(if n == 1 {
                        body.execute(params![tx.last_insert_rowid(), d.body])?;
                        crate::DeliveryInsert::Inserted
                    } else {
                        crate::DeliveryInsert::Duplicate
                    });
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn claim_deliveries(
        &self,
        claimant: String,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<crate::ClaimedDelivery>, StoreError> {
        self.write_durable(move |c| {
            let now = crate::changes::unix_micros(OffsetDateTime::now_utc());
            let expires = now.saturating_add(crate::changes::lease_micros(lease));
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let busy = tx
                .prepare_cached(
                    "SELECT 1 FROM webhook_deliveries
                     WHERE state = 'pending' AND claimed_by IS NOT NULL
                       AND claimed_by <> ?1 AND claim_expires_us > ?2 LIMIT 1",
                )?
                .query_row(params![claimant, now], |_| Ok(()))
                .optional()?
                .is_some();
            if busy {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            {
                let mut select = tx.prepare_cached(
                    "SELECT d.id, d.forge, d.delivery_id, d.event, d.received_at, b.body
                     FROM webhook_deliveries AS d
                     JOIN webhook_delivery_bodies AS b ON b.delivery = d.id
                     WHERE d.state = 'pending' ORDER BY d.id LIMIT ?1",
                )?;
                let mut rows = select.query(params![i64::from(limit)])?;
                while let Some(row) = rows.next()? {
                    let at: String = row.get(4)?;
                    out.push(crate::ClaimedDelivery {
                        id: row.get(0)?,
                        forge: row.get(1)?,
                        delivery_id: row.get(2)?,
                        event: row.get(3)?,
                        received_at: parse_time(&at)?,
                        body: row.get(5)?,
                    });
                }
                let mut claim = tx.prepare_cached(
                    "UPDATE webhook_deliveries SET claimed_by = ?1, claim_expires_us = ?2
                     WHERE id = ?3",
                )?;
                for d in &out {
                    claim.execute(params![claimant, expires, d.id])?;
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn finish_deliveries(
        &self,
        claimant: String,
        outcomes: Vec<crate::DeliveryOutcome>,
        records: Vec<crate::StoredChangeRecord>,
        branches: Vec<crate::StoredBranch>,
    ) -> Result<(), StoreError> {
        let now = format_time(OffsetDateTime::now_utc())?;
        let branches = branches
            .into_iter()
            .map(|b| {
                let empty = b.commits.as_array().is_some_and(Vec::is_empty);
                Ok((
                    b.forge,
                    b.repo,
                    b.branch,
                    (!empty).then(|| b.commits.to_string()),
                    format_time(b.updated_at)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let records = records
            .into_iter()
            .map(|r| {
                let text = serde_json::to_string(&r.record).map_err(|e| {
                    StoreError::InvalidData(format!("cannot encode change record: {e}"))
                })?;
                Ok((
                    r.forge,
                    r.repo,
                    to_i64("pull request number", r.number)?,
                    text,
                    format_time(r.updated_at)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_durable(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut mark = tx.prepare_cached(
                    "UPDATE webhook_deliveries
                     SET state = ?1, error = ?2, processed_at = ?3,
                         claimed_by = NULL, claim_expires_us = NULL
                     WHERE id = ?4 AND state = 'pending' AND claimed_by = ?5",
                )?;
                let mut lost = 0;
                for o in &outcomes {
                    if mark.execute(params![o.state.as_str(), o.error, now, o.id, claimant])? != 1 {
                        lost += 1;
                    }
                }
                if lost > 0 {
                    // Dropping the transaction rolls it back.
                    return Err(StoreError::ClaimLost { count: lost });
                }
                let mut save = tx.prepare_cached(
                    "INSERT INTO change_records (forge, repo, number, record, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (forge, repo, number) DO UPDATE SET
                         record = excluded.record, updated_at = excluded.updated_at",
                )?;
                for (forge, repo, number, text, at) in &records {
                    save.execute(params![forge, repo, number, text, at])?;
                }
                let mut keep = tx.prepare_cached(
                    "INSERT INTO branch_commits (forge, repo, branch, commits, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (forge, repo, branch) DO UPDATE SET
                         commits = excluded.commits, updated_at = excluded.updated_at",
                )?;
                let mut drop = tx.prepare_cached(
                    "DELETE FROM branch_commits WHERE forge = ?1 AND repo = ?2 AND branch = ?3",
                )?;
                for (forge, repo, branch, commits, at) in &branches {
                    match commits {
                        Some(text) => keep.execute(params![forge, repo, branch, text, at])?,
                        None => drop.execute(params![forge, repo, branch])?,
                    };
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn branch_commits(
        &self,
        forge: String,
        repo: String,
    ) -> Result<Vec<crate::StoredBranch>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT forge, repo, branch, commits, updated_at FROM branch_commits
                 WHERE forge = ?1 AND repo = ?2 ORDER BY branch",
            )?;
            let mut rows = stmt.query(params![forge, repo])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let text: String = row.get(3)?;
                let at: String = row.get(4)?;
                out.push(crate::StoredBranch {
                    forge: row.get(0)?,
                    repo: row.get(1)?,
                    branch: row.get(2)?,
                    commits: serde_json::from_str(&text).map_err(|e| {
                        StoreError::InvalidData(format!("malformed branch commits: {e}"))
                    })?,
                    updated_at: parse_time(&at)?,
                });
            }
            Ok(out)
        })
        .await
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
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT forge, repo, number, record, updated_at FROM change_records
                 WHERE forge = ?1 AND repo = ?2 AND (?3 IS NULL OR number = ?3)
                 ORDER BY number",
            )?;
            let mut rows = stmt.query(params![forge, repo, number])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let text: String = row.get(3)?;
                let at: String = row.get(4)?;
                out.push(crate::StoredChangeRecord {
                    forge: row.get(0)?,
                    repo: row.get(1)?,
                    number: to_u64("pull request number", row.get(2)?)?,
                    record: serde_json::from_str(&text).map_err(|e| {
                        StoreError::InvalidData(format!("malformed change record: {e}"))
                    })?,
                    updated_at: parse_time(&at)?,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn webhook_delivery(
        &self,
        forge: String,
        delivery_id: String,
    ) -> Result<Option<crate::DeliveryRecord>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, forge, delivery_id, event, received_at, body_bytes, state, error,
                        processed_at
                 FROM webhook_deliveries WHERE forge = ?1 AND delivery_id = ?2",
            )?;
            let mut rows = stmt.query(params![forge, delivery_id])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let received: String = row.get(4)?;
            let state: String = row.get(6)?;
            let processed: Option<String> = row.get(8)?;
            Ok(Some(crate::DeliveryRecord {
                id: row.get(0)?,
                forge: row.get(1)?,
                delivery_id: row.get(2)?,
                event: row.get(3)?,
                received_at: parse_time(&received)?,
                body_bytes: to_u64("body length", row.get(5)?)?,
                state: state.parse()?,
                error: row.get(7)?,
                processed_at: processed.as_deref().map(parse_time).transpose()?,
            }))
        })
        .await
    }

    pub(crate) async fn delivery_counts(&self) -> Result<crate::DeliveryCounts, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT state, count(*) FROM webhook_deliveries GROUP BY state")?;
            let mut rows = stmt.query([])?;
            let mut counts = crate::DeliveryCounts::default();
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                crate::changes::count_state(&mut counts, &state, row.get(1)?)?;
            }
            Ok(counts)
        })
        .await
    }
}

// Deployment authorizations (`DeployStore`).
impl SqliteStore {
    pub(crate) async fn insert_deploy_authorization(
        &self,
        a: crate::NewDeployAuthorization,
    ) -> Result<crate::DeployAuthorization, StoreError> {
        let json = |what: &str, v: &serde_json::Value| {
            serde_json::to_string(v)
                .map_err(|e| StoreError::InvalidData(format!("cannot encode {what}: {e}")))
        };
        let envelope = json("envelope", &a.envelope)?;
        let details = json("details", &a.details)?;
        let authorized_at = format_time(a.authorized_at)?;
        let expires_at = format_time(a.expires_at)?;
        let due = a.retro_review_due.map(format_time).transpose()?;
        let index = to_i64("ledger index", a.ledger_index)?;
        self.write(move |c| {
            c.execute(
                "INSERT INTO deploy_authorizations
                     (app, environment, repo, commit_sha, kind, approver, reason, authorized_at,
                      expires_at, envelope, details, ledger_index, retro_review_due)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    a.app,
                    a.environment,
                    a.repo,
                    a.commit_sha,
                    a.kind.as_str(),
                    a.approver,
                    a.reason,
                    authorized_at,
                    expires_at,
                    envelope,
                    details,
                    index,
                    due
                ],
            )?;
            Ok(crate::DeployAuthorization::new(c.last_insert_rowid(), a))
        })
        .await
    }

    pub(crate) async fn select_deploy_authorizations(
        &self,
        query: crate::deploys::DeployQuery,
    ) -> Result<Vec<crate::DeployAuthorization>, StoreError> {
        use crate::deploys::{DEPLOY_COLUMNS, DeployQuery};
        let (sql, values): (String, Vec<Value>) = match query {
            DeployQuery::Id(id) => (
                format!("SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations WHERE id = ?1"),
                vec![Value::Integer(id)],
            ),
            DeployQuery::Commit {
                app,
                environment,
                commit_sha,
            } => (
                format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                     WHERE app = ?1 AND environment = ?2 AND commit_sha = ?3
                     ORDER BY id DESC LIMIT 1"
                ),
                vec![
                    Value::Text(app),
                    Value::Text(environment),
                    Value::Text(commit_sha),
                ],
            ),
            DeployQuery::Target {
                app,
                environment,
                limit,
            } => (
                format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                     WHERE app = ?1 AND environment = ?2 ORDER BY id DESC LIMIT ?3"
                ),
                vec![
                    Value::Text(app),
                    Value::Text(environment),
                    Value::Integer(i64::from(limit)),
                ],
            ),
            DeployQuery::RetroDue(before) => (
                format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploy_authorizations
                     WHERE kind = 'break-glass' AND retro_reviewed_at IS NULL
                       AND retro_review_due < ?1
                     ORDER BY retro_review_due, id"
                ),
                vec![Value::Text(format_time(before)?)],
            ),
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(deploy_from_row(row)?.decode()?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn revoke_deploy_authorization(
        &self,
        id: i64,
        r: crate::Revocation,
    ) -> Result<bool, StoreError> {
        let at = format_time(r.at)?;
        let details = serde_json::to_string(&r.details)
            .map_err(|e| StoreError::InvalidData(format!("cannot encode details: {e}")))?;
        let index = to_i64("ledger index", r.ledger_index)?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE deploy_authorizations
                 SET revoked_at = ?1, revoked_by = ?2, revoked_reason = ?3,
                     revoked_ledger_index = ?4, revocation_details = ?5
                 WHERE id = ?6 AND revoked_at IS NULL",
                params![at, r.by, r.reason, index, details, id],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub(crate) async fn record_retro_review(
        &self,
        id: i64,
        r: crate::RetroReview,
    ) -> Result<bool, StoreError> {
        let at = format_time(r.at)?;
        let index = to_i64("ledger index", r.ledger_index)?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE deploy_authorizations
                 SET retro_reviewed_at = ?1, retro_reviewed_by = ?2, retro_review_notes = ?3,
                     retro_review_ledger_index = ?4
                 WHERE id = ?5 AND kind = 'break-glass' AND retro_reviewed_at IS NULL",
                params![at, r.by, r.notes, index, id],
            )?;
            Ok(n == 1)
        })
        .await
    }
}

fn deploy_from_row(row: &Row<'_>) -> Result<crate::deploys::DeployRow, StoreError> {
    let time = |i: usize| -> Result<OffsetDateTime, StoreError> {
        let s: String = row.get(i)?;
        parse_time(&s)
    };
    let opt_time = |i: usize| -> Result<Option<OffsetDateTime>, StoreError> {
        let s: Option<String> = row.get(i)?;
        s.as_deref().map(parse_time).transpose()
    };
    let json = |i: usize| -> Result<Option<serde_json::Value>, StoreError> {
        let s: Option<String> = row.get(i)?;
        s.as_deref()
            .map(|s| {
                serde_json::from_str(s).map_err(|e| {
                    StoreError::InvalidData(format!("malformed deploy authorization JSON: {e}"))
                })
            })
            .transpose()
    };
    let missing = || StoreError::InvalidData("deploy authorization JSON is missing".to_owned());
    Ok(crate::deploys::DeployRow {
        id: row.get(0)?,
        app: row.get(1)?,
        environment: row.get(2)?,
        repo: row.get(3)?,
        commit_sha: row.get(4)?,
        kind: row.get(5)?,
        approver: row.get(6)?,
        reason: row.get(7)?,
        authorized_at: time(8)?,
        expires_at: time(9)?,
        envelope: json(10)?.ok_or_else(missing)?,
        details: json(11)?.ok_or_else(missing)?,
        ledger_index: row.get(12)?,
        retro_review_due: opt_time(13)?,
        revoked_at: opt_time(14)?,
        revoked_by: row.get(15)?,
        revoked_reason: row.get(16)?,
        revoked_ledger_index: row.get(17)?,
        revocation_details: json(18)?,
        retro_reviewed_at: opt_time(19)?,
        retro_reviewed_by: row.get(20)?,
        retro_review_notes: row.get(21)?,
        retro_review_ledger_index: row.get(22)?,
    })
}
