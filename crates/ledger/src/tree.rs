//! Tree coordinates, the stored-hash reader trait a store implements, and proof generation
//! (RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1) from stored hashes of complete subtrees.
//!
//! A log keeps one *stored hash* per complete subtree: every leaf hash (level 0) and every
//! interior node whose subtree is full (level `l` covers `2^l` leaves). That is about `2n`
//! hashes for `n` leaves, and it never changes once written. Any root, inclusion proof or
//! consistency proof for any tree size up to `n` needs only `O(log n)` of them, fetched in
//! one [`HashReader::read_hashes`] call. Grouped 256 to a row per level these are the C2SP
//! `tlog-tiles` tiles ([`TileId`]); tile level `t` is tree level `8t`.

use std::convert::Infallible;
use std::ops::Range;

use crate::hash::{Hash, empty_root, node_hash};

/// A complete subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves; 0 for a leaf hash.
    pub level: u8,
    /// Position among the nodes of that level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level`, `index`.
    pub const fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The leaf hash of entry `index`.
    pub const fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The leaves this subtree covers.
    pub fn leaves(&self) -> Range<u64> {
        let begin = self.index << self.level;
        begin..begin.saturating_add(1u64 << self.level)
    }

    /// Position in the dense linear order of stored hashes (the Go `sumdb/tlog` layout):
    /// the hashes are numbered in the order an append-only log writes them, each leaf hash
    /// followed by the hashes of the subtrees it completes. Useful as a single integer key.
    pub fn stored_index(&self) -> u64 {
        // The node is written right after the leaf that completes it: its last leaf.
        let last = ((self.index + 1) << self.level) - 1;
        leaf_stored_index(last) + u64::from(self.level)
    }

    /// Inverse of [`NodeId::stored_index`].
    pub fn from_stored_index(stored: u64) -> NodeId {
        // leaf_stored_index(e) <= 2e, so the completing leaf is at or after stored / 2.
        let mut leaf = stored / 2;
        let mut at = leaf_stored_index(leaf);
        loop {
            // Leaf `leaf` writes itself plus one hash per subtree it completes.
            let next = at + 1 + u64::from(leaf.trailing_ones());
            if next > stored {
                break;
            }
            leaf += 1;
            at = next;
        }
        let level = (stored - at) as u8;
        NodeId::new(level, leaf >> level)
    }
}

fn leaf_stored_index(leaf: u64) -> u64 {
    // leaf + leaf/2 + leaf/4 + ... == 2 * leaf - popcount(leaf)
    2 * leaf - u64::from(leaf.count_ones())
}

/// Number of stored hashes in a tree of `size` leaves.
pub fn stored_hash_count(size: u64) -> u64 {
    match size {
        0 => 0,
        n => leaf_stored_index(n - 1) + 1 + u64::from((n - 1).trailing_ones()),
    }
}

/// Source of stored hashes (complete-subtree hashes), implemented by the persistent store
/// and by [`crate::MemTree`]. Every proof, root or compact range needs one call.
pub trait HashReader {
    /// Why a read failed (IO, missing row, ...).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hashes of `nodes`, in the same order. Nodes may repeat; all of them belong to
    /// the tree the caller asks about, so a missing one is an error.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(nodes)
    }
}

/// Proof generation failed. `E` is the [`HashReader`]'s error; plain planning (no reads)
/// uses the default, which has no read errors.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E = Infallible> {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("tree size {size} is larger than the log ({log_size} entries)")]
    BeyondLog { size: u64, log_size: u64 },
    #[error("got {got} stored hashes for {want} nodes")]
    ShortRead { got: usize, want: usize },
    #[error("cannot read stored hashes")]
    Read(#[source] E),
}

impl<E> ProofError<E> {
    /// Re-types a planning error (which never holds a read error).
    pub fn widen(e: ProofError) -> ProofError<E> {
        match e {
            ProofError::IndexOutOfRange { index, size } => {
                ProofError::IndexOutOfRange { index, size }
            }
            ProofError::SizeOrder { old, new } => ProofError::SizeOrder { old, new },
            ProofError::BeyondLog { size, log_size } => ProofError::BeyondLog { size, log_size },
            ProofError::ShortRead { got, want } => ProofError::ShortRead { got, want },
            ProofError::Read(never) => match never {},
        }
    }
}

/// What a root or proof needs from storage, and how to combine it: the stored hashes to
/// read ([`ProofPlan::nodes`], `O(log n)` of them) and the recipe to turn them into the
/// result ([`ProofPlan::finish`]). An async store reads the nodes itself and calls
/// `finish`; a synchronous [`HashReader`] can use [`ProofPlan::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    /// Each result hash is the right fold of a run of `nodes`.
    parts: Vec<Range<usize>>,
}

impl ProofPlan {
    fn with_ranges<'a>(ranges: impl Iterator<Item = &'a (u64, u64)>) -> ProofPlan {
        let mut plan = ProofPlan {
            nodes: Vec::with_capacity(64),
            parts: Vec::with_capacity(64),
        };
        for &(begin, end) in ranges {
            // A subtree of RFC 9162's recursive split: its complete subtrees, folded from
            // the right, give its Merkle tree hash.
            let start = plan.nodes.len();
            decompose(begin, end, &mut plan.nodes);
            plan.parts.push(start..plan.nodes.len());
        }
        plan
    }

    /// The root of the tree of the first `size` leaves (one result hash).
    pub fn tree_hash(size: u64) -> ProofPlan {
        ProofPlan::with_ranges([(0, size)].iter())
    }

    /// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves,
    /// RFC 9162 §2.1.3.1, ordered from the leaf upwards.
    pub fn inclusion(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        Ok(ProofPlan::with_ranges(
            inclusion_ranges(index, size).iter().rev(),
        ))
    }

    /// The consistency proof between the trees of `old` and `new` leaves, RFC 9162
    /// §2.1.4.1. Empty when `old == 0` or `old == new`.
    pub fn consistency(old: u64, new: u64) -> Result<ProofPlan, ProofError> {
        if old > new {
            return Err(ProofError::SizeOrder { old, new });
        }
        if old == 0 || old == new {
            return Ok(ProofPlan::with_ranges([].iter()));
        }
        Ok(ProofPlan::with_ranges(
            consistency_ranges(old, new).iter().rev(),
        ))
    }

    /// The stored hashes to read, in the order [`ProofPlan::finish`] expects them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Combines the stored hashes of [`ProofPlan::nodes`] (same order) into the result.
    pub fn finish(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.nodes.len() {
            return Err(ProofError::ShortRead {
                got: hashes.len(),
                want: self.nodes.len(),
            });
        }
        Ok(self
            .parts
            .iter()
            .map(|r| fold_right(&hashes[r.clone()]))
            .collect())
    }

    /// Reads the nodes from `reader` in one call and finishes.
    pub fn read<R: HashReader + ?Sized>(
        &self,
        reader: &R,
    ) -> Result<Vec<Hash>, ProofError<R::Error>> {
        let hashes = if self.nodes.is_empty() {
            Vec::new()
        } else {
            reader.read_hashes(&self.nodes).map_err(ProofError::Read)?
        };
        self.finish(&hashes).map_err(ProofError::widen)
    }
}

/// Appends the maximal complete subtrees covering leaves `begin..end`, left to right.
pub(crate) fn decompose(mut begin: u64, end: u64, out: &mut Vec<NodeId>) {
    while begin < end {
        let by_size = 63 - (end - begin).leading_zeros();
        let by_align = if begin == 0 {
            63
        } else {
            begin.trailing_zeros()
        };
        let level = by_size.min(by_align);
        out.push(NodeId::new(level as u8, begin >> level));
        begin += 1u64 << level;
    }
}

/// RFC 9162 hash of a tree given its complete subtrees left to right (largest first).
pub(crate) fn fold_right(hashes: &[Hash]) -> Hash {
    let Some((last, rest)) = hashes.split_last() else {
        return empty_root();
    };
    rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
}

/// Largest power of two strictly below `n` (`n >= 2`): RFC 9162's split point `k`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Leaf ranges of the inclusion proof elements for `index < size`, root side first
/// (RFC 9162 `PATH(m, D[n])`, unrolled).
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::with_capacity(64);
    let (mut begin, mut end) = (0u64, size);
    while end - begin > 1 {
        let mid = begin + split_point(end - begin);
        if index < mid {
            ranges.push((mid, end));
            end = mid;
        } else {
            ranges.push((begin, mid));
            begin = mid;
        }
    }
    ranges
}

/// Leaf ranges of the consistency proof elements for `0 < old < new`, root side first
/// (RFC 9162 `SUBPROOF(m, D[n], true)`, unrolled).
pub(crate) fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::with_capacity(64);
    let (mut begin, mut end, mut m, mut whole) = (0u64, new, old, true);
    loop {
        let n = end - begin;
        if m == n {
            if !whole {
                ranges.push((begin, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            ranges.push((begin + k, end));
            end = begin + k;
        } else {
            ranges.push((begin, begin + k));
            begin += k;
            m -= k;
            whole = false;
        }
    }
    ranges
}

/// Root hash of the tree of the first `size` leaves.
pub fn tree_hash<R: HashReader + ?Sized>(
    reader: &R,
    size: u64,
) -> Result<Hash, ProofError<R::Error>> {
    Ok(ProofPlan::tree_hash(size).read(reader)?[0])
}

/// Inclusion proof (audit path) for leaf `index` in the tree of `size` leaves,
/// RFC 9162 §2.1.3.1, ordered from the leaf upwards.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    ProofPlan::inclusion(index, size)
        .map_err(ProofError::widen)?
        .read(reader)
}

/// Consistency proof between the trees of `old` and `new` leaves, RFC 9162 §2.1.4.1.
/// Empty when `old == 0` or `old == new`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    ProofPlan::consistency(old, new)
        .map_err(ProofError::widen)?
        .read(reader)
}

/// Height of a tile in tree levels (C2SP `tlog-tiles`).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// A C2SP `tlog-tiles` tile: up to 256 consecutive stored hashes at tree level `8 * level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level; its hashes are at tree level `8 * level`.
    pub level: u8,
    /// Tile index within its level.
    pub index: u64,
    /// Number of hashes, 1 to 256 (256 for a full tile).
    pub width: u16,
}

impl TileId {
    /// The full tile `index` at tile level `level`.
    pub const fn full(level: u8, index: u64) -> TileId {
        TileId {
            level,
            index,
            width: TILE_WIDTH as u16,
        }
    }

    /// Whether the tile has fewer than 256 hashes.
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    /// The stored hashes the tile holds, left to right.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<> {
        let level = self.level * TILE_HEIGHT;
        let first = self.index * TILE_WIDTH;
        (first..first + u64::from(self.width)).map(move |i| NodeId::new(level, i))
    }

    /// The right-edge partial tiles of a tree of `size` leaves (those a checkpoint of that
    /// size needs besides full tiles), lowest level first.
    pub fn partial_tiles(size: u64) -> Vec<TileId> {
        let mut out = Vec::new();
        let mut level = 0u8;
        let mut count = size; // hashes at tree level 8 * level
        while count > 0 {
            let width = (count % TILE_WIDTH) as u16;
            if width > 0 {
                out.push(TileId {
                    level,
                    index: count / TILE_WIDTH,
                    width,
                });
            }
            count /= TILE_WIDTH;
            level += 1;
        }
        out
    }

    /// The resource path, `tile/<L>/<N>[.p/<W>]`, with `N` in `x`-prefixed 3-digit groups.
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut path = format!("tile/{}/", self.level);
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                path.push_str(&format!("x{g:03}/"));
            } else {
                path.push_str(&format!("{g:03}"));
            }
        }
        if self.is_partial() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }
}
