//! In-memory log: every stored hash kept per level, for tests, benchmarks and small tools.

use crate::compact::{CompactRange, TreeHead};
use crate::hash::{Hash, leaf_hash};
use crate::tree::{self, HashReader, NodeId, ProofError};

/// An append-only Merkle tree held in memory: `levels[l][i]` is the stored hash of
/// [`NodeId`] `(l, i)`. About 64 bytes per leaf.
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    levels: Vec<Vec<Hash>>,
    edge: CompactRange,
}

/// A stored hash the tree does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no stored hash at level {} index {}", .0.level, .0.index)]
pub struct MissingHash(pub NodeId);

impl MemTree {
    /// The empty tree.
    pub fn new() -> MemTree {
        MemTree::default()
    }

    /// The empty tree, with room for `leaves` leaves without reallocating.
    pub fn with_capacity(leaves: u64) -> MemTree {
        let mut levels = Vec::new();
        let mut n = leaves;
        while n > 0 {
            levels.push(Vec::with_capacity(n as usize));
            n /= 2;
        }
        MemTree {
            levels,
            edge: CompactRange::new(),
        }
    }

    /// Appends an entry (its canonical bytes); returns its index.
    pub fn push_entry(&mut self, entry: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf hash; returns its index.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.edge.size();
        let levels = &mut self.levels;
        self.edge.append_with(leaf, |s| {
            let level = usize::from(s.node.level);
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            debug_assert_eq!(levels[level].len() as u64, s.node.index);
            levels[level].push(s.hash);
        });
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }

    /// Current size and root.
    pub fn head(&self) -> TreeHead {
        self.edge.head()
    }

    /// The right edge, as the store's appender would hold it.
    pub fn edge(&self) -> &CompactRange {
        &self.edge
    }

    /// The stored hash of `node`, if the tree has it.
    pub fn stored_hash(&self, node: NodeId) -> Option<Hash> {
        let level = self.levels.get(usize::from(node.level))?;
        level.get(usize::try_from(node.index).ok()?).copied()
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError<MissingHash>> {
        if size > self.size() {
            return Err(ProofError::BeyondLog {
                size,
                log_size: self.size(),
            });
        }
        Ok(())
    }

    /// Root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError<MissingHash>> {
        self.check_size(size)?;
        tree::tree_hash(self, size)
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError<MissingHash>> {
        self.check_size(size)?;
        tree::inclusion_proof(self, index, size)
    }

    /// Consistency proof from `old` to `new` leaves.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, ProofError<MissingHash>> {
        self.check_size(new)?;
        tree::consistency_proof(self, old, new)
    }
}

impl HashReader for MemTree {
    type Error = MissingHash;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingHash> {
        nodes
            .iter()
            .map(|&n| self.stored_hash(n).ok_or(MissingHash(n)))
            .collect()
    }
}
