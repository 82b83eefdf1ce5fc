//! Whole-log verification: streams every entry through [`LogVerifier`], recomputes every
//! stored hash, checks each stored checkpoint's signature, origin and root, and the stored
//! head, reporting precisely which entry, stored hash or checkpoint is wrong.

use std::collections::HashMap;
use std::fmt;

use ledger::{
    Checkpoint, Entry, Hash, HeadProblem, LogVerifier, NodeId, TreeHead, VerifierKey, leaf_hash,
    stored_hash_count,
};
use store::{LedgerEntryRecord, LedgerStore, StoreError};

use crate::AuditError;

/// Entries read per page.
const PAGE: u32 = 8192;
/// Problems of one kind reported before the rest are only counted.
const MAX_PROBLEMS: usize = 1000;

/// Something in the stored log that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No entry is stored at this index, below the log's size.
    MissingEntry { index: u64 },
    /// An entry is stored at or beyond the stored head's size.
    UnexpectedEntry { index: u64 },
    /// The entry's leaf hash differs from the stored leaf hash: the entry (or that hash) was
    /// modified, or entries were swapped.
    EntryModified { index: u64 },
    /// The entry bytes are not a valid canonical entry.
    UndecodableEntry { index: u64, message: String },
    /// A stored interior hash differs from the hash recomputed from the entries.
    StoredHashModified { node: NodeId, stored_index: u64 },
    /// A stored hash is missing.
    MissingStoredHash { node: NodeId, stored_index: u64 },
    /// A stored checkpoint's note does not open (signature, origin or text).
    CheckpointInvalid { id: i64, message: String },
    /// A checkpoint's root differs from the log's root at its size.
    CheckpointMismatch {
        id: i64,
        size: u64,
        claimed: Hash,
        computed: Hash,
    },
    /// A checkpoint claims a size beyond the end of the log.
    CheckpointBeyondEnd { id: i64, size: u64, log_size: u64 },
    /// The stored head differs from the recomputed one.
    HeadMismatch {
        stored: TreeHead,
        computed: TreeHead,
    },
    /// More problems than reported.
    Truncated { omitted: u64 },
    /// An exported directory lacks a file it needs (a tile, entry bundle or manifest).
    MissingFile { path: String },
    /// An exported directory holds a file that is not part of the export for its anchor.
    UnexpectedFile { path: String },
    /// An exported tile has the wrong length.
    TruncatedFile {
        path: String,
        len: u64,
        expected: u64,
    },
    /// A hash in an exported tile above level 0 differs from the hash recomputed from the
    /// tiles below it (`position` counts from 0 within the tile).
    TileHashMismatch {
        path: String,
        position: u64,
        node: NodeId,
    },
    /// An exported entry bundle is not a sequence of length-prefixed entries of its width.
    MalformedBundle { path: String, message: String },
    /// An exported entry does not hash to its leaf hash in the level-0 tile.
    BundleEntryModified { path: String, index: u64 },
    /// The export's anchor `checkpoint` is missing or does not verify.
    AnchorInvalid { message: String },
    /// The root recomputed from the exported level-0 tiles differs from the anchor's.
    AnchorMismatch {
        size: u64,
        claimed: Hash,
        computed: Hash,
    },
    /// An exported `checkpoints/<size>` file does not verify (signature, origin, text, or
    /// a size other than its name).
    CheckpointFileInvalid { path: String, message: String },
    /// An exported checkpoint's root differs from the root recomputed at its size.
    CheckpointFileMismatch {
        path: String,
        size: u64,
        claimed: Hash,
        computed: Hash,
    },
    /// An exported checkpoint claims a size beyond the anchor's.
    CheckpointFileBeyondAnchor {
        path: String,
        size: u64,
        anchor: u64,
    },
    /// `manifest.json` is missing, unreadable, or disagrees with the files.
    ManifestMismatch { message: String },
    /// Something could not be checked because of another problem.
    NotChecked { what: String, reason: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingEntry { index } => write!(f, "entry {index} is missing"),
            Problem::UnexpectedEntry { index } => {
                write!(f, "entry {index} is beyond the stored head")
            }
            Problem::EntryModified { index } => write!(
                f,
                "entry {index} does not match its stored leaf hash (entry modified or moved)"
            ),
            Problem::UndecodableEntry { index, message } => {
                write!(f, "entry {index} is not a valid entry: {message}")
            }
            Problem::StoredHashModified { node, stored_index } => write!(
                f,
                "stored hash {stored_index} (level {} index {}) does not match the entries",
                node.level, node.index
            ),
            Problem::MissingStoredHash { node, stored_index } => write!(
                f,
                "stored hash {stored_index} (level {} index {}) is missing",
                node.level, node.index
            ),
            Problem::CheckpointInvalid { id, message } => {
                write!(f, "checkpoint {id} does not verify: {message}")
            }
            Problem::CheckpointMismatch {
                id,
                size,
                claimed,
                computed,
            } => write!(
                f,
                "checkpoint {id} at size {size} has root `{claimed}` but the entries give `{computed}`"
            ),
            Problem::CheckpointBeyondEnd { id, size, log_size } => write!(
                f,
                "checkpoint {id} claims size {size} but the log has {log_size} entries"
            ),
            Problem::HeadMismatch { stored, computed } => write!(
                f,
                "stored head (size {}, root `{}`) differs from the entries (size {}, root `{}`)",
                stored.size, stored.root, computed.size, computed.root
            ),
            Problem::Truncated { omitted } => write!(f, "{omitted} further problems not shown"),
            Problem::MissingFile { path } => write!(f, "`{path}` is missing"),
            Problem::UnexpectedFile { path } => {
                write!(f, "`{path}` is not part of this export")
            }
            Problem::TruncatedFile {
                path,
                len,
                expected,
            } => write!(f, "`{path}` is {len} bytes, expected {expected}"),
            Problem::TileHashMismatch {
                path,
                position,
                node,
            } => write!(
                f,
                "`{path}` hash {position} (level {} index {}) does not match the tiles below it",
                node.level, node.index
            ),
            Problem::MalformedBundle { path, message } => {
                write!(f, "entry bundle `{path}` is malformed: {message}")
            }
            Problem::BundleEntryModified { path, index } => write!(
                f,
                "entry {index} in `{path}` does not match its leaf hash in the level-0 tile (entry modified)"
            ),
            Problem::AnchorInvalid { message } => {
                write!(f, "the anchor `checkpoint` does not verify: {message}")
            }
            Problem::AnchorMismatch {
                size,
                claimed,
                computed,
            } => write!(
                f,
                "the anchor `checkpoint` at size {size} has root `{claimed}` but the level-0 tiles give `{computed}`"
            ),
            Problem::CheckpointFileInvalid { path, message } => {
                write!(f, "`{path}` does not verify: {message}")
            }
            Problem::CheckpointFileMismatch {
                path,
                size,
                claimed,
                computed,
            } => write!(
                f,
                "`{path}` at size {size} has root `{claimed}` but the tiles give `{computed}`"
            ),
            Problem::CheckpointFileBeyondAnchor { path, size, anchor } => write!(
                f,
                "`{path}` claims size {size}, beyond the anchor's {anchor}"
            ),
            Problem::ManifestMismatch { message } => write!(f, "`manifest.json`: {message}"),
            Problem::NotChecked { what, reason } => write!(f, "{what} not checked: {reason}"),
        }
    }
}

impl Problem {
    /// The exported file a problem of [`crate::verify_dir`] is about, if any.
    pub fn file(&self) -> Option<&str> {
        match self {
            Problem::MissingFile { path }
            | Problem::UnexpectedFile { path }
            | Problem::TruncatedFile { path, .. }
            | Problem::TileHashMismatch { path, .. }
            | Problem::MalformedBundle { path, .. }
            | Problem::BundleEntryModified { path, .. }
            | Problem::CheckpointFileInvalid { path, .. }
            | Problem::CheckpointFileMismatch { path, .. }
            | Problem::CheckpointFileBeyondAnchor { path, .. } => Some(path),
            Problem::AnchorInvalid { .. } | Problem::AnchorMismatch { .. } => Some("checkpoint"),
            Problem::ManifestMismatch { .. } => Some("manifest.json"),
            _ => None,
        }
    }
}

/// Result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Size and root recomputed from the entries.
    pub head: TreeHead,
    /// Entries read.
    pub entries: u64,
    /// Checkpoints whose signature verified and whose root was compared.
    pub checkpoints: usize,
    /// Everything wrong, in log order (checkpoints last).
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the log verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Indices named by entry problems (missing, modified, undecodable, unexpected).
    pub fn bad_entries(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::MissingEntry { index }
                | Problem::UnexpectedEntry { index }
                | Problem::EntryModified { index }
                | Problem::UndecodableEntry { index, .. }
                | Problem::BundleEntryModified { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }

    /// Ids of checkpoints that failed.
    pub fn bad_checkpoints(&self) -> Vec<i64> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                Problem::CheckpointInvalid { id, .. }
                | Problem::CheckpointMismatch { id, .. }
                | Problem::CheckpointBeyondEnd { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }
}

struct Problems {
    list: Vec<Problem>,
    omitted: u64,
}

impl Problems {
    fn push(&mut self, p: Problem) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        } else {
            self.omitted += 1;
        }
    }
}

/// Verifies the whole stored log against itself and its checkpoints, which must be signed
/// by `key` with origin `origin`.
pub async fn verify<S: LedgerStore + Sync>(
    store: &S,
    origin: &str,
    key: &VerifierKey,
) -> Result<Report, AuditError> {
    let mut problems = Problems {
        list: Vec::new(),
        omitted: 0,
    };
    let mut checkpoint_problems = Vec::new();

    // Checkpoints: signature, origin, and the size column against the signed size.
    let mut heads: HashMap<(u64, Hash), Vec<i64>> = HashMap::new();
    for c in store.ledger_checkpoints().await? {
        match Checkpoint::open(c.note.as_bytes(), origin, key) {
            Ok(cp) if cp.size != c.size => checkpoint_problems.push(Problem::CheckpointInvalid {
                id: c.id,
                message: format!("signed size {} but stored size {}", cp.size, c.size),
            }),
            Ok(cp) => heads.entry((cp.size, cp.root)).or_default().push(c.id),
            Err(e) => checkpoint_problems.push(Problem::CheckpointInvalid {
                id: c.id,
                message: e.to_string(),
            }),
        }
    }
    let checkpoints = heads.values().map(Vec::len).sum();
    let mut verifier = LogVerifier::new(heads.keys().map(|&(size, root)| TreeHead { size, root }));

    let stored_head = store.ledger_head().await?;
    let size = stored_head.size;
    let mut entries = 0u64;
    // Pipelined: a page's entries are decoded and hashed on the blocking pool (split across
    // the cores) as soon as it is read; meanwhile the next page is read, and the previous
    // page's tree is recomputed and compared here.
    let mut current = read_page(store, 0, size).await?;
    while let Some(page) = current {
        let following = read_page(store, page.end, size).await?;
        let Page {
            start,
            end,
            checks,
            h0,
            stored,
        } = page;
        let stored_at = |sidx: u64| stored[(sidx - h0) as usize];
        let mut rows = checks.finish().await?.into_iter().peekable();
        for index in start..end {
            let row = rows.next_if(|r| r.index == index);
            let leaf_sidx = NodeId::leaf(index).stored_index();
            let leaf = match row {
                Some(row) => {
                    entries += 1;
                    if let Some(message) = row.undecodable {
                        problems.push(Problem::UndecodableEntry { index, message });
                    }
                    match stored_at(leaf_sidx) {
                        Some(s) if s == row.leaf => {}
                        Some(_) => problems.push(Problem::EntryModified { index }),
                        None => problems.push(Problem::MissingStoredHash {
                            node: NodeId::leaf(index),
                            stored_index: leaf_sidx,
                        }),
                    }
                    row.leaf
                }
                None => {
                    problems.push(Problem::MissingEntry { index });
                    // Keep the tree's shape: go on with the stored leaf hash, so the entries
                    // after the gap are still checked at their own positions.
                    stored_at(leaf_sidx).unwrap_or_default()
                }
            };
            verifier.push_leaf_hash_with(leaf, |s| {
                if s.node.level == 0 {
                    return;
                }
                let sidx = s.node.stored_index();
                match stored_at(sidx) {
                    Some(h) if h == s.hash => {}
                    Some(_) => problems.push(Problem::StoredHashModified {
                        node: s.node,
                        stored_index: sidx,
                    }),
                    None => problems.push(Problem::MissingStoredHash {
                        node: s.node,
                        stored_index: sidx,
                    }),
                }
            });
        }
        current = following;
    }
    for row in store.ledger_entries(size, 100).await? {
        problems.push(Problem::UnexpectedEntry { index: row.index });
    }

    let computed = TreeHead {
        size: verifier.size(),
        root: if size == 0 {
            ledger::empty_root()
        } else {
            verifier.root()
        },
    };
    if computed != stored_head {
        problems.push(Problem::HeadMismatch {
            stored: stored_head,
            computed,
        });
    }
    if let Err(e) = verifier.finish() {
        for p in e.problems {
            match p {
                HeadProblem::RootMismatch {
                    size,
                    claimed,
                    computed,
                } => {
                    for &id in heads.get(&(size, claimed)).into_iter().flatten() {
                        checkpoint_problems.push(Problem::CheckpointMismatch {
                            id,
                            size,
                            claimed,
                            computed,
                        });
                    }
                }
                HeadProblem::BeyondEnd { size, log_size } => {
                    for (_, ids) in heads.iter().filter(|((s, _), _)| *s == size) {
                        for &id in ids {
                            checkpoint_problems.push(Problem::CheckpointBeyondEnd {
                                id,
                                size,
                                log_size,
                            });
                        }
                    }
                }
            }
        }
    }
    checkpoint_problems.sort_by_key(|p| match p {
        Problem::CheckpointInvalid { id, .. }
        | Problem::CheckpointMismatch { id, .. }
        | Problem::CheckpointBeyondEnd { id, .. } => *id,
        _ => 0,
    });
    let mut list = problems.list;
    list.extend(checkpoint_problems);
    if problems.omitted > 0 {
        list.push(Problem::Truncated {
            omitted: problems.omitted,
        });
    }
    Ok(Report {
        head: computed,
        entries,
        checkpoints,
        problems: list,
    })
}

/// One page of the stored log: the entries with index in `start..end` (fewer where entries
/// are missing), already being checked, and the stored hashes with stored index in `h0..`,
/// `None` where missing.
struct Page {
    start: u64,
    end: u64,
    checks: Checks,
    h0: u64,
    stored: Vec<Option<Hash>>,
}

/// Reads the page starting at `start` and starts checking its entries, or `None` at the end
/// of the log (`size`).
async fn read_page<S: LedgerStore + Sync>(
    store: &S,
    start: u64,
    size: u64,
) -> Result<Option<Page>, AuditError> {
    if start >= size {
        return Ok(None);
    }
    let end = size.min(start + u64::from(PAGE));
    let (h0, h1) = (stored_hash_count(start), stored_hash_count(end));
    let (rows, hashes) = tokio::join!(
        store.ledger_entries(start, PAGE),
        store.ledger_hash_range(h0, h1)
    );
    let mut rows = rows?;
    // Past a gap the page holds entries beyond `end`; the next page reads them again.
    rows.retain(|r| r.index < end);
    let mut stored = vec![None; (h1 - h0) as usize];
    for (sidx, h) in hashes? {
        stored[(sidx - h0) as usize] = Some(h);
    }
    Ok(Some(Page {
        start,
        end,
        checks: Checks::start(rows),
        h0,
        stored,
    }))
}

/// An entry's leaf hash and, if its bytes are not a valid canonical entry, why.
struct CheckedEntry {
    index: u64,
    leaf: Hash,
    undecodable: Option<String>,
}

fn check_entry(row: &LedgerEntryRecord) -> CheckedEntry {
    CheckedEntry {
        index: row.index,
        leaf: leaf_hash(&row.bytes),
        undecodable: Entry::check_canonical(&row.bytes)
            .err()
            .map(|e| e.to_string()),
    }
}

/// Entries being decoded and hashed on the blocking pool, split into one part per core.
struct Checks(Vec<tokio::task::JoinHandle<Vec<CheckedEntry>>>);

impl Checks {
    fn start(mut rows: Vec<LedgerEntryRecord>) -> Checks {
        let parts = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
        let per_part = rows.len().div_ceil(parts).max(1);
        let mut tasks = Vec::with_capacity(parts);
        while !rows.is_empty() {
            let rest = rows.split_off(per_part.min(rows.len()));
            let part = std::mem::replace(&mut rows, rest);
            tasks.push(tokio::task::spawn_blocking(move || {
                part.iter().map(check_entry).collect::<Vec<_>>()
            }));
        }
        Checks(tasks)
    }

    /// The checked entries, in the order of the rows.
    async fn finish(self) -> Result<Vec<CheckedEntry>, AuditError> {
        let mut out = Vec::new();
        for task in self.0 {
            match task.await {
                Ok(checked) => out.extend(checked),
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => return Err(AuditError::Store(StoreError::Task(e.to_string()))),
                },
            }
        }
        Ok(out)
    }
}
