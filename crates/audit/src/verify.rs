//! Whole-log verification: streams every entry through [`LogVerifier`], recomputes every
//! stored hash, checks each stored checkpoint's signature, origin and root, and the stored
//! head, reporting precisely which entry, stored hash or checkpoint is wrong.

use std::collections::HashMap;
use std::fmt;

use ledger::{
    Checkpoint, CompactRange, Entry, Hash, HeadProblem, LogVerifier, NodeId, TreeHead, VerifierKey,
    leaf_hash, stored_hash_count,
};
use store::LedgerStore;

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
                | Problem::UndecodableEntry { index, .. } => Some(*index),
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
    let mut edge = CompactRange::new();
    let mut entries = 0u64;
    let mut next = 0u64;
    while next < size {
        let end = size.min(next + u64::from(PAGE));
        let page = store.ledger_entries(next, PAGE).await?;
        let (h0, h1) = (stored_hash_count(next), stored_hash_count(end));
        let stored: Vec<Option<Hash>> = {
            let mut v = vec![None; (h1 - h0) as usize];
            for (sidx, h) in store.ledger_hash_range(h0, h1).await? {
                v[(sidx - h0) as usize] = Some(h);
            }
            v
        };
        let stored_at = |sidx: u64| stored[(sidx - h0) as usize];
        let mut rows = page.into_iter().filter(|r| r.index < end).peekable();
        for index in next..end {
            let row = rows.next_if(|r| r.index == index);
            let leaf_sidx = NodeId::leaf(index).stored_index();
            let leaf = match row {
                Some(row) => {
                    entries += 1;
                    if let Err(e) = Entry::from_canonical_bytes(&row.bytes) {
                        problems.push(Problem::UndecodableEntry {
                            index,
                            message: e.to_string(),
                        });
                    }
                    let leaf = leaf_hash(&row.bytes);
                    match stored_at(leaf_sidx) {
                        Some(s) if s == leaf => {}
                        Some(_) => problems.push(Problem::EntryModified { index }),
                        None => problems.push(Problem::MissingStoredHash {
                            node: NodeId::leaf(index),
                            stored_index: leaf_sidx,
                        }),
                    }
                    leaf
                }
                None => {
                    problems.push(Problem::MissingEntry { index });
                    // Keep the tree's shape: go on with the stored leaf hash, so the entries
                    // after the gap are still checked at their own positions.
                    stored_at(leaf_sidx).unwrap_or_default()
                }
            };
            verifier.push_leaf_hash(leaf);
            edge.append_with(leaf, |s| {
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
        next = end;
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
