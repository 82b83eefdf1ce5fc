//! The right edge of the tree ("compact range"): incremental appends that yield the stored
//! hashes to persist, and the streaming whole-log verifier built on it.

use crate::hash::{Hash, empty_root, leaf_hash, node_hash};
use crate::tree::{HashReader, NodeId, ProofError, decompose, fold_right};

/// A tree size and its root hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

/// A stored hash produced by an append, to be persisted by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHash {
    pub node: NodeId,
    pub hash: Hash,
}

/// The hashes of the maximal complete subtrees covering leaves `0..size`, left to right
/// (one per set bit of `size`, largest first). Enough to append and to compute the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

/// A compact range could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactRangeError {
    #[error("a tree of {size} leaves has a right edge of {want} hashes, got {got}")]
    WrongLength { size: u64, want: usize, got: usize },
}

/// Result of [`CompactRange::append_batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Every stored hash the batch created (leaf hashes and completed subtrees), in the
    /// order of [`NodeId::stored_index`].
    pub stored: Vec<StoredHash>,
    /// The right edge after the batch; keep it for the next batch.
    pub edge: CompactRange,
    /// Size and root after the batch.
    pub head: TreeHead,
}

impl Default for CompactRange {
    fn default() -> Self {
        CompactRange::new()
    }
}

impl CompactRange {
    /// The right edge of the empty tree.
    pub fn new() -> CompactRange {
        CompactRange {
            size: 0,
            hashes: Vec::with_capacity(64),
        }
    }

    /// The nodes whose stored hashes make up the right edge of a tree of `size` leaves.
    pub fn nodes_for_size(size: u64) -> Vec<NodeId> {
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        decompose(0, size, &mut nodes);
        nodes
    }

    /// Builds the right edge from the stored hashes of [`CompactRange::nodes_for_size`].
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Result<CompactRange, CompactRangeError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(CompactRangeError::WrongLength {
                size,
                want,
                got: hashes.len(),
            });
        }
        let mut hashes = hashes;
        hashes.reserve(64usize.saturating_sub(hashes.len()));
        Ok(CompactRange { size, hashes })
    }

    /// Reads the right edge of the tree of `size` leaves from a store.
    pub fn load<R: HashReader + ?Sized>(
        reader: &R,
        size: u64,
    ) -> Result<CompactRange, ProofError<R::Error>> {
        let nodes = CompactRange::nodes_for_size(size);
        let hashes = if nodes.is_empty() {
            Vec::new()
        } else {
            reader.read_hashes(&nodes).map_err(ProofError::Read)?
        };
        if hashes.len() != nodes.len() {
            return Err(ProofError::ShortRead {
                got: hashes.len(),
                want: nodes.len(),
            });
        }
        let mut hashes = hashes;
        hashes.reserve(64usize.saturating_sub(hashes.len()));
        Ok(CompactRange { size, hashes })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The edge hashes, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The edge nodes, matching [`CompactRange::hashes`].
    pub fn nodes(&self) -> Vec<NodeId> {
        CompactRange::nodes_for_size(self.size)
    }

    /// Root of the tree of [`CompactRange::size`] leaves.
    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }

    /// Size and root.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root(),
        }
    }

    /// Appends one leaf hash, reporting each stored hash it creates (the leaf, then every
    /// subtree it completes, bottom up) to `stored`. Does not allocate.
    pub fn append_with(&mut self, leaf: Hash, mut stored: impl FnMut(StoredHash)) {
        let index = self.size;
        stored(StoredHash {
            node: NodeId::leaf(index),
            hash: leaf,
        });
        let mut hash = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a left sibling waiting on the edge.
        let mut pending = index;
        while pending & 1 == 1 {
            let left = self.hashes.pop().expect("edge has one hash per set bit");
            hash = node_hash(&left, &hash);
            level += 1;
            pending >>= 1;
            stored(StoredHash {
                node: NodeId::new(level, index >> level),
                hash,
            });
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// Appends one leaf hash. Does not allocate.
    pub fn append(&mut self, leaf: Hash) {
        self.append_with(leaf, |_| {});
    }

    /// Appends a batch of leaf hashes (the store's group commit). `self` is left as it was,
    /// so a failed transaction can simply retry with the same edge.
    pub fn append_batch(&self, leaves: &[Hash]) -> Appended {
        let mut edge = self.clone();
        let mut stored = Vec::with_capacity(leaves.len() * 2 + 64);
        for leaf in leaves {
            edge.append_with(*leaf, |s| stored.push(s));
        }
        let head = edge.head();
        Appended { stored, edge, head }
    }
}

/// Recomputes a log's root in one streaming pass, checking tree heads (checkpoints) at
/// their sizes. Memory is `O(log n)` plus the heads; no allocation per entry.
#[derive(Clone, Debug)]
pub struct LogVerifier {
    edge: CompactRange,
    /// Heads still to check, largest size first (popped from the end).
    pending: Vec<TreeHead>,
    checked: usize,
    problems: Vec<HeadProblem>,
}

/// A tree head that does not match the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadProblem {
    #[error(
        "tree head at size {size} has root `{claimed}` but the log's root there is `{computed}`"
    )]
    RootMismatch {
        size: u64,
        claimed: Hash,
        computed: Hash,
    },
    #[error("tree head at size {size} is beyond the end of the log ({log_size} entries)")]
    BeyondEnd { size: u64, log_size: u64 },
}

/// The log does not match one or more tree heads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of {checked} tree heads do not match the log; first: {}", problems.len(), problems[0])]
pub struct LogVerifyError {
    /// Heads checked (matching or not).
    pub checked: usize,
    /// Every mismatch, in size order.
    pub problems: Vec<HeadProblem>,
    /// The log's own final head.
    pub head: TreeHead,
}

/// A successful whole-log verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogReport {
    /// The log's final size and root.
    pub head: TreeHead,
    /// Number of tree heads checked.
    pub checked: usize,
}

impl LogVerifier {
    /// A verifier that checks `heads` (in any order) as the entries stream past.
    pub fn new(heads: impl IntoIterator<Item = TreeHead>) -> LogVerifier {
        let mut pending: Vec<TreeHead> = heads.into_iter().collect();
        pending.sort_by_key(|h| std::cmp::Reverse(h.size));
        let mut v = LogVerifier {
            edge: CompactRange::new(),
            pending,
            checked: 0,
            problems: Vec::new(),
        };
        v.check_heads();
        v
    }

    /// Hashes and appends the next entry (its canonical bytes).
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends the next leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        self.push_leaf_hash_with(leaf, |_| {});
    }

    /// Appends the next leaf hash, reporting each stored hash it creates to `stored` (as
    /// [`CompactRange::append_with`] does), so a caller comparing a store's hashes needs no
    /// second tree.
    pub fn push_leaf_hash_with(&mut self, leaf: Hash, stored: impl FnMut(StoredHash)) {
        self.edge.append_with(leaf, stored);
        if self
            .pending
            .last()
            .is_some_and(|h| h.size == self.edge.size)
        {
            self.check_heads();
        }
    }

    fn check_heads(&mut self) {
        let size = self.edge.size();
        let mut root = None;
        while let Some(head) = self.pending.last().copied().filter(|h| h.size == size) {
            self.pending.pop();
            let computed = *root.get_or_insert_with(|| match size {
                0 => empty_root(),
                _ => self.edge.root(),
            });
            self.checked += 1;
            if computed != head.root {
                self.problems.push(HeadProblem::RootMismatch {
                    size,
                    claimed: head.root,
                    computed,
                });
            }
        }
    }

    /// Entries seen so far.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Root of the entries seen so far.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }

    /// Ends the pass: every head must have been reached and matched.
    pub fn finish(mut self) -> Result<LogReport, LogVerifyError> {
        let head = self.edge.head();
        while let Some(h) = self.pending.pop() {
            self.checked += 1;
            self.problems.push(HeadProblem::BeyondEnd {
                size: h.size,
                log_size: head.size,
            });
        }
        if self.problems.is_empty() {
            Ok(LogReport {
                head,
                checked: self.checked,
            })
        } else {
            Err(LogVerifyError {
                checked: self.checked,
                problems: self.problems,
                head,
            })
        }
    }
}
