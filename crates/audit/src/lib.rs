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
    #[error("audit signer key `{reference}`: {message}")]
    Key { reference: String, message: String },
}

type Reply = oneshot::Sender<Result<u64, AuditError>>;

struct Inner {
    tx: mpsc::Sender<Msg>,
    checkpointer: Option<JoinHandle<()>>,
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
        tokio::spawn(writer(store.clone(), rx, config.max_batch.max(1)));
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
            inner: Arc::new(Inner { tx, checkpointer }),
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
        let new = NewLedgerEntry {
            bytes: entry.to_canonical_bytes()?,
            time_micros: entry.time.unix_micros(),
            kind: entry.kind.as_str().to_owned(),
            actor: entry.actor.clone(),
            details,
        };
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Append(new, reply))
            .await
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// The current size and root.
    pub async fn head(&self) -> Result<TreeHead, AuditError> {
        Ok(self.store.ledger_head().await?)
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
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

enum Msg {
    Append(NewLedgerEntry, Reply),
    Stop(oneshot::Sender<()>),
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Msg>, max: usize) {
    let mut pending = Vec::with_capacity(max);
    while rx.recv_many(&mut pending, max).await > 0 {
        let mut entries = Vec::with_capacity(pending.len());
        let mut replies = Vec::with_capacity(pending.len());
        let mut stop = None;
        for msg in pending.drain(..) {
            match msg {
                Msg::Append(e, r) if stop.is_none() => {
                    entries.push(e);
                    replies.push(r);
                }
                // Dropped after a stop: the waiter sees `Closed`.
                Msg::Append(..) => {}
                Msg::Stop(s) => stop = stop.or(Some(s)),
            }
        }
        if !entries.is_empty() {
            commit(&store, entries, replies).await;
        }
        if let Some(s) = stop {
            let _ = s.send(());
            return;
        }
    }
}

async fn commit(store: &Store, entries: Vec<NewLedgerEntry>, replies: Vec<Reply>) {
    match store.ledger_append_batch(entries).await {
        Ok((first, _)) => {
            for (index, reply) in (first..).zip(replies) {
                let _ = reply.send(Ok(index));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, entries = replies.len(), "audit append failed");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(AuditError::Append(e.clone())));
            }
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
