//! The audit log service over a [`Store`]: durable group-commit appends to the verifiable
//! ledger, periodic signed checkpoints, and the whole-log verifier. No HTTP.
//!
//! - [`AuditLog`]: `append` enqueues an entry for the batching writer task, which drains
//!   everything pending (up to a maximum batch), commits it in one store transaction and
//!   then answers every waiter; a second task signs a checkpoint whenever the size changed.
//! - [`verify()`]: streams the whole log and reports exactly what does not match.
//! - [`key`]: loading or creating the log's Ed25519 signer key.
//! - [`tiles`]: the log as C2SP `tlog-tiles` (tiles, entry bundles) and `tlog-proof` files.
//! - [`export()`], [`verify_dir()`], [`consistency`]: offline copies for auditors, their
//!   verification, and proofs that a saved checkpoint is a prefix of the log now.

pub mod consistency;
pub mod dir;
pub mod export;
pub mod key;
pub mod record;
pub mod tiles;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ledger::{Checkpoint, CheckpointError, Entry, EntryError, SignerKey, TreeHead};
use store::{CheckpointRecord, LedgerStore, NewLedgerEntry, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use consistency::{Consistency, Inconsistency, check_consistency};
pub use dir::{DirError, DirReport, check_consistency_dir, verify_dir};
pub use export::{ExportError, ExportOptions, ExportSummary, export};
pub use key::{load_or_create_key, resolve_key};
pub use record::{Record, Recorded};
pub use verify::{Problem, Report, verify};

/// Settings of an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Checkpoint origin (log identity), e.g. `aigov.local/<instance>`.
    pub origin: String,
    /// Most entries committed in one transaction.
    pub max_batch: usize,
    /// Entries waiting for the writer before `append` waits for room.
    pub queue: usize,
    /// How often a checkpoint is signed when the log grew; `None` disables the task.
    pub checkpoint_interval: Option<Duration>,
    /// Name of this replica, recorded as the origin of [`AuditLog::record`]ed entries.
    pub replica: Option<String>,
    /// Group commit: a batch of only queued entries (no caller waiting) is committed at
    /// most this long after the previous commit began, gathering what arrives meanwhile
    /// into one transaction. Entries someone waits for are committed at once. Zero turns
    /// it off (one commit per wake-up).
    pub commit_interval: Duration,
}

impl AuditConfig {
    /// Defaults for `origin`: batches of up to 4096, a 64k queue, checkpoints every second.
    pub fn new(origin: impl Into<String>) -> AuditConfig {
        AuditConfig {
            origin: origin.into(),
            max_batch: 4096,
            queue: 65_536,
            checkpoint_interval: Some(Duration::from_secs(1)),
            replica: None,
            commit_interval: Duration::from_millis(2),
        }
    }
}

/// An audit log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The batch holding this entry could not be committed (shared by every entry in it).
    #[error("audit append failed: {0}")]
    Append(Arc<StoreError>),
    #[error("invalid audit entry: {0}")]
    Entry(#[from] EntryError),
    #[error("cannot sign checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the audit log writer has stopped")]
    Closed,
    /// Entries queued without waiting could not be committed and are being retried.
    #[error("the audit log cannot commit entries right now (retrying)")]
    Unhealthy,
    #[error("audit signer key `{reference}`: {message}")]
    Key { reference: String, message: String },
}

type Reply = oneshot::Sender<Result<u64, AuditError>>;

struct Inner {
    tx: mpsc::Sender<Msg>,
    checkpointer: Option<JoinHandle<()>>,
    /// False while queued entries (appended without waiting) could not be committed and are
    /// being retried; callers that do not wait for commits must refuse work meanwhile.
    healthy: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = &self.checkpointer {
            c.abort();
        }
    }
}

/// Handle to the audit log; clone freely. Must be created inside a tokio runtime.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    signer: Arc<SignerKey>,
    origin: Arc<str>,
    replica: Option<Arc<str>>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .field("key", &self.signer.name())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer (and checkpointer) tasks.
    pub fn start(store: Store, signer: SignerKey, config: AuditConfig) -> AuditLog {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        tokio::spawn(writer(
            store.clone(),
            rx,
            config.max_batch.max(1),
            config.commit_interval,
            healthy.clone(),
        ));
        let signer = Arc::new(signer);
        let origin: Arc<str> = config.origin.into();
        let checkpointer = config.checkpoint_interval.map(|every| {
            tokio::spawn(checkpointer(
                store.clone(),
                signer.clone(),
                origin.clone(),
                every,
            ))
        });
        AuditLog {
            store,
            signer,
            origin,
            replica: config.replica.map(Into::into),
            inner: Arc::new(Inner {
                tx,
                checkpointer,
                healthy,
            }),
        }
    }

    /// Appends an entry; returns its index once it is durable.
    pub async fn append(&self, entry: &Entry) -> Result<u64, AuditError> {
        self.append_with_details(entry, None).await
    }

    /// Appends an entry and, in the same transaction, the event row holding its details;
    /// returns the entry's index once both are durable.
    pub async fn append_with_details(
        &self,
        entry: &Entry,
        details: Option<store::NewEvent>,
    ) -> Result<u64, AuditError> {
        let new = new_entry(entry, details)?;
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Append(new, reply))
            .await
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// Queues an entry (and its details row) for the writer without waiting for the commit.
    /// The writer retries a queued entry whose commit failed until it succeeds, and while it
    /// retries [`AuditLog::is_healthy`] is false. Fails when the log is unhealthy or stopped,
    /// so a caller never goes on while entries pile up uncommitted; waits while the queue is
    /// full.
    pub async fn append_queued(
        &self,
        entry: &Entry,
        details: Option<store::NewEvent>,
    ) -> Result<(), AuditError> {
        if !self.is_healthy() {
            return Err(AuditError::Unhealthy);
        }
        let new = new_entry(entry, details)?;
        self.inner
            .tx
            .send(Msg::Queued(new))
            .await
            .map_err(|_| AuditError::Closed)
    }

    /// Like [`AuditLog::append_queued`] from synchronous code (a `Drop`): never waits, fails
    /// when the queue is full.
    pub fn try_append_queued(
        &self,
        entry: &Entry,
        details: Option<store::NewEvent>,
    ) -> Result<(), AuditError> {
        let new = new_entry(entry, details)?;
        self.inner
            .tx
            .try_send(Msg::Queued(new))
            .map_err(|_| AuditError::Closed)
    }

    /// Whether every queued entry so far could be committed (see [`AuditLog::append_queued`]).
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Acquire)
    }

    /// The current size and root.
    pub async fn head(&self) -> Result<TreeHead, AuditError> {
        Ok(self.store.ledger_head().await?)
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's signer key, which also signs what the log vouches for, such as deployment
    /// authorizations (verified with the same verifier key as the checkpoints).
    pub fn signer(&self) -> &SignerKey {
        &self.signer
    }

    /// Signs and stores a checkpoint of the current head now, unless the newest stored
    /// checkpoint already has that size.
    pub async fn checkpoint_now(&self) -> Result<Option<CheckpointRecord>, AuditError> {
        let last = last_checkpoint_size(&self.store).await?;
        checkpoint_if_grown(&self.store, &self.signer, &self.origin, last).await
    }

    /// Stops accepting entries, waits until every entry queued before this call is
    /// committed, and writes a final checkpoint. Appends after this fail with
    /// [`AuditError::Closed`].
    pub async fn shutdown(&self) -> Result<(), AuditError> {
        if let Some(c) = &self.inner.checkpointer {
            c.abort();
        }
        let (done, wait) = oneshot::channel();
        if self.inner.tx.send(Msg::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
        self.checkpoint_now().await?;
        Ok(())
    }
}

fn new_entry(
    entry: &Entry,
    details: Option<store::NewEvent>,
) -> Result<NewLedgerEntry, AuditError> {
    Ok(NewLedgerEntry {
        bytes: entry.to_canonical_bytes()?,
        time_micros: entry.time.unix_micros(),
        kind: entry.kind.as_str().to_owned(),
        actor: entry.actor.clone(),
        details,
    })
}

enum Msg {
    Append(NewLedgerEntry, Reply),
    /// Appended without a waiter ([`AuditLog::append_queued`]).
    Queued(NewLedgerEntry),
    Stop(oneshot::Sender<()>),
}

/// Delay before retrying queued entries whose commit failed.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// Commit attempts for queued entries still failing at shutdown.
const ATTEMPTS_AT_STOP: usize = 5;

async fn writer(
    store: Store,
    mut rx: mpsc::Receiver<Msg>,
    max: usize,
    interval: Duration,
    healthy: Arc<AtomicBool>,
) {
    let mut pending = Vec::with_capacity(max);
    // Queued entries whose commit failed; they go first into the next batch.
    let mut retry: Vec<NewLedgerEntry> = Vec::new();
    // When the last commit began (group commit of queued entries).
    let mut last_commit: Option<tokio::time::Instant> = None;
    loop {
        if retry.is_empty() {
            if rx.recv_many(&mut pending, max).await == 0 {
                return;
            }
            // Only queued entries so far, and the last commit was moments ago: let more
            // arrive so that they share a transaction (one WAL sync instead of many).
            let only_queued = pending.iter().all(|m| matches!(m, Msg::Queued(_)));
            if let Some(due) = last_commit.map(|t| t + interval)
                && only_queued
                && pending.len() < max
                && due > tokio::time::Instant::now()
            {
                let _ = tokio::time::timeout_at(due, async {
                    while pending.len() < max {
                        let (from, room) = (pending.len(), max - pending.len());
                        if rx.recv_many(&mut pending, room).await == 0 {
                            break;
                        }
                        // Someone waits (or the log stops): commit now.
                        if !pending[from..].iter().all(|m| matches!(m, Msg::Queued(_))) {
                            break;
                        }
                    }
                })
                .await;
            }
        } else {
            tokio::time::sleep(RETRY_DELAY).await;
            let room = max.saturating_sub(retry.len()).max(1);
            while pending.len() < room {
                match rx.try_recv() {
                    Ok(msg) => pending.push(msg),
                    Err(_) => break,
                }
            }
        }
        let mut entries = std::mem::take(&mut retry);
        let mut replies = Vec::with_capacity(pending.len());
        let mut stop = None;
        // Queued entries first (retries and new ones), then those with waiters, so a failed
        // batch can hand the queued ones back for another attempt.
        let mut waited = Vec::with_capacity(pending.len());
        for msg in pending.drain(..) {
            match msg {
                Msg::Queued(e) if stop.is_none() => entries.push(e),
                Msg::Append(e, r) if stop.is_none() => {
                    waited.push(e);
                    replies.push(r);
                }
                // Dropped after a stop: a waiter sees `Closed`.
                Msg::Append(..) | Msg::Queued(_) => {
                    tracing::error!("audit entry arrived after the log stopped; not recorded");
                }
                Msg::Stop(s) => stop = stop.or(Some(s)),
            }
        }
        let queued = entries.len();
        entries.extend(waited);
        if !entries.is_empty() {
            last_commit = Some(tokio::time::Instant::now());
            retry = commit(&store, entries, queued, replies).await;
            healthy.store(retry.is_empty(), Ordering::Release);
        }
        if let Some(s) = stop {
            for _ in 0..ATTEMPTS_AT_STOP {
                if retry.is_empty() {
                    break;
                }
                tokio::time::sleep(RETRY_DELAY).await;
                retry = commit(&store, std::mem::take(&mut retry), usize::MAX, Vec::new()).await;
            }
            if !retry.is_empty() {
                tracing::error!(
                    entries = retry.len(),
                    "audit log stopped with queued entries it could not commit"
                );
            }
            let _ = s.send(());
            return;
        }
    }
}

/// Commits a batch whose first `queued` entries have no waiter and the rest answer `replies`
/// in order. Returns the queued entries when the commit failed (to be retried).
async fn commit(
    store: &Store,
    entries: Vec<NewLedgerEntry>,
    queued: usize,
    replies: Vec<Reply>,
) -> Vec<NewLedgerEntry> {
    let queued = queued.min(entries.len());
    // Kept for a retry: the store consumes the batch.
    let keep: Vec<NewLedgerEntry> = entries[..queued].to_vec();
    match store.ledger_append_batch(entries).await {
        Ok((first, _)) => {
            for (index, reply) in (first + queued as u64..).zip(replies) {
                let _ = reply.send(Ok(index));
            }
            Vec::new()
        }
        Err(e) => {
            tracing::error!(error = %e, entries = queued + replies.len(), "audit append failed");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(AuditError::Append(e.clone())));
            }
            keep
        }
    }
}

async fn last_checkpoint_size(store: &Store) -> Result<Option<u64>, AuditError> {
    Ok(store.ledger_checkpoints().await?.last().map(|c| c.size))
}

async fn checkpoint_if_grown(
    store: &Store,
    signer: &SignerKey,
    origin: &str,
    last: Option<u64>,
) -> Result<Option<CheckpointRecord>, AuditError> {
    let head = store.ledger_head().await?;
    if last == Some(head.size) {
        return Ok(None);
    }
    let note = Checkpoint::new(origin, head).sign(signer)?;
    Ok(Some(store.ledger_add_checkpoint(head.size, note).await?))
}

async fn checkpointer(store: Store, signer: Arc<SignerKey>, origin: Arc<str>, every: Duration) {
    let mut last = None;
    let mut loaded = false;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !loaded {
            match last_checkpoint_size(&store).await {
                Ok(l) => {
                    last = l;
                    loaded = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read audit checkpoints");
                    continue;
                }
            }
        }
        match checkpoint_if_grown(&store, &signer, &origin, last).await {
            Ok(Some(c)) => last = Some(c.size),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot write audit checkpoint"),
        }
    }
}
