//! The log in the C2SP `tlog-tiles` layout, read from a store: tile and entry-bundle paths,
//! hash tiles, entry bundles, and C2SP `tlog-proof@v1` inclusion proofs against a stored
//! checkpoint. What the HTTP server serves and what `aigov audit export` writes.

use std::fmt;

use ledger::{
    Checkpoint, CheckpointError, Note, ProofPlan, TILE_HEIGHT, TILE_WIDTH, TileId, TlogProof,
    leaf_hash, root_from_inclusion_proof,
};
use store::{CheckpointRecord, LedgerStore, StoreError};

pub use ledger::proof_file::{ProofFileError, ProvenEntry, verify_tlog_proof};

/// Largest entry an entry bundle can hold (its length prefix is a big-endian `u16`).
pub const MAX_BUNDLE_ENTRY: usize = u16::MAX as usize;

/// A `tlog-tiles` resource path below the log's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: a tile of Merkle tree hashes.
    Hash(TileId),
    /// `tile/entries/<N>[.p/<W>]`: entries `256 * index ..` (`width` of them, 256 if full).
    Entries { index: u64, width: u16 },
}

/// A string is not a canonical `tlog-tiles` tile path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error(
        "`{0}` is not a tile path: expected `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`"
    )]
    NotATile(String),
    #[error("invalid tile level in `{0}`: expected 0 to 63 without leading zeroes")]
    Level(String),
    #[error(
        "invalid tile index in `{0}`: expected 3-digit groups, all but the last prefixed with `x`, without a leading `x000`"
    )]
    Index(String),
    #[error("invalid partial tile width in `{0}`: expected 1 to 255 without leading zeroes")]
    Width(String),
}

/// Reading a tile, entry bundle or proof from the store failed.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("`{path}` does not exist in a log of {size} entries")]
    NotFound { path: String, size: u64 },
    #[error("entry {index} is not below the checkpoint's tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("entry {index} is missing from the store")]
    MissingEntry { index: u64 },
    #[error("entry {index} is {len} bytes, too long for an entry bundle (at most 65535)")]
    EntryTooLong { index: u64, len: usize },
    #[error("stored checkpoint {id} is not a valid checkpoint")]
    Checkpoint {
        id: i64,
        #[source]
        source: CheckpointError,
    },
    #[error("stored checkpoint {id} is recorded at size {stored} but its note says {signed}")]
    CheckpointSize { id: i64, stored: u64, signed: u64 },
    #[error(
        "the stored hashes do not lead from entry {index} to the root of checkpoint {id}: the database is inconsistent (run `aigov audit verify`)"
    )]
    ProofMismatch { index: u64, id: i64 },
    #[error("got {got} stored hashes for {want} nodes")]
    ShortRead { got: usize, want: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a non-negative tile index written as 3-digit groups, all but the last prefixed
/// with `x` (`x001/x234/067`), rejecting a redundant leading `x000` group.
fn parse_index(groups: &[&str]) -> Option<u64> {
    let (last, rest) = groups.split_last()?;
    let mut n: u64 = 0;
    for (i, g) in rest.iter().enumerate() {
        let digits = g.strip_prefix('x')?;
        if i == 0 && digits == "000" {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(three_digits(digits)?)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A decimal without leading zeroes in `min..=max`.
fn small_decimal(s: &str, min: u16, max: u16) -> Option<u16> {
    let canonical = s == "0"
        || (s.starts_with(|c: char| matches!(c, '1'..='9'))
            && s.len() <= 3
            && s.bytes().all(|b| b.is_ascii_digit()));
    canonical
        .then(|| s.parse::<u16>().ok())
        .flatten()
        .filter(|n| (min..=max).contains(n))
}

impl TilePath {
    /// Parses a canonical path exactly as the spec writes it (no leading `/`, no prefix).
    pub fn parse(path: &str) -> Result<TilePath, TilePathError> {
        let not_a_tile = || TilePathError::NotATile(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(not_a_tile)?;
        let (level, rest) = rest.split_once('/').ok_or_else(not_a_tile)?;
        let mut elements: Vec<&str> = rest.split('/').collect();
        // A partial tile: `<last group>.p/<W>`.
        let mut width = TILE_WIDTH as u16;
        if elements.len() >= 2
            && let Some(group) = elements[elements.len() - 2].strip_suffix(".p")
        {
            let w = elements.pop().unwrap_or_default();
            width =
                small_decimal(w, 1, 255).ok_or_else(|| TilePathError::Width(path.to_owned()))?;
            let last = elements.len() - 1;
            elements[last] = group;
        }
        if elements.iter().any(|e| e.is_empty()) {
            return Err(not_a_tile());
        }
        let index = parse_index(&elements).ok_or_else(|| TilePathError::Index(path.to_owned()))?;
        if level == "entries" {
            return Ok(TilePath::Entries { index, width });
        }
        let level =
            small_decimal(level, 0, 63).ok_or_else(|| TilePathError::Level(path.to_owned()))? as u8;
        Ok(TilePath::Hash(TileId {
            level,
            index,
            width,
        }))
    }

    /// The canonical path, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        match *self {
            TilePath::Hash(tile) => tile.path(),
            TilePath::Entries { index, width } => {
                let as_tile = TileId {
                    level: 0,
                    index,
                    width,
                }
                .path();
                format!("tile/entries/{}", &as_tile["tile/0/".len()..])
            }
        }
    }

    /// Whether the resource exists in a log of `size` entries (see [`tile_exists`] and
    /// [`bundle_exists`]).
    pub fn exists(&self, size: u64) -> bool {
        match *self {
            TilePath::Hash(tile) => tile_exists(tile, size),
            TilePath::Entries { index, width } => bundle_exists(index, width, size),
        }
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl std::str::FromStr for TilePath {
    type Err = TilePathError;
    fn from_str(s: &str) -> Result<TilePath, TilePathError> {
        TilePath::parse(s)
    }
}

/// Number of stored hashes at tile level `level` (tree level `8 * level`) in a tree of
/// `size` leaves: the complete subtrees of `256^level` leaves.
pub fn hashes_at_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// Whether `count` hashes (or entries) hold the `width` items of tile `index`.
fn fits(index: u64, width: u16, count: u64) -> bool {
    (1..=TILE_WIDTH as u16).contains(&width)
        && index
            .checked_mul(TILE_WIDTH)
            .and_then(|first| first.checked_add(u64::from(width)))
            .is_some_and(|end| end <= count)
}

/// Whether `tile` exists in a tree of `size` leaves: a full tile once all its 256 hashes
/// exist, a partial tile of width `w` once its first `w` hashes do (so the partial tiles of
/// every earlier size stay valid, as the spec requires logs to serve them).
pub fn tile_exists(tile: TileId, size: u64) -> bool {
    fits(tile.index, tile.width, hashes_at_level(size, tile.level))
}

/// Whether the entry bundle `index` of `width` entries exists in a log of `size` entries.
pub fn bundle_exists(index: u64, width: u16, size: u64) -> bool {
    fits(index, width, size)
}

/// Every tile a client needs for a tree of `size` leaves: at each level the full tiles, then
/// the right-edge partial tile if any; lowest level first.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let count = hashes_at_level(size, level);
        if count == 0 {
            break;
        }
        out.extend((0..count / TILE_WIDTH).map(|n| TileId::full(level, n)));
        let width = (count % TILE_WIDTH) as u16;
        if width > 0 {
            out.push(TileId {
                level,
                index: count / TILE_WIDTH,
                width,
            });
        }
        level += 1;
    }
    out
}

/// The entry bundles covering entries `from..to`: the first starts at the multiple of 256
/// at or below `from` (bundles cannot start elsewhere), the last is partial when `to` is not
/// a multiple of 256. Returned as `(index, width)`.
pub fn bundles_for_range(from: u64, to: u64) -> Vec<(u64, u16)> {
    if from >= to {
        return Vec::new();
    }
    (from / TILE_WIDTH..to.div_ceil(TILE_WIDTH))
        .map(|n| {
            let width = (to - n * TILE_WIDTH).min(TILE_WIDTH) as u16;
            (n, width)
        })
        .collect()
}

/// The tile's hashes, concatenated (32 bytes each), for a log of `size` entries.
pub async fn read_tile<S: LedgerStore + Sync>(
    store: &S,
    tile: TileId,
    size: u64,
) -> Result<Vec<u8>, TileError> {
    if !tile_exists(tile, size) {
        return Err(TileError::NotFound {
            path: tile.path(),
            size,
        });
    }
    let nodes: Vec<_> = tile.nodes().collect();
    let want = nodes.len();
    let hashes = store.ledger_read_hashes(nodes).await?;
    if hashes.len() != want {
        return Err(TileError::ShortRead {
            got: hashes.len(),
            want,
        });
    }
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// The entry bundle `index` (entries `256 * index ..`, `width` of them) of a log of `size`
/// entries: each entry as a big-endian `u16` length and its bytes.
pub async fn read_entry_bundle<S: LedgerStore + Sync>(
    store: &S,
    index: u64,
    width: u16,
    size: u64,
) -> Result<Vec<u8>, TileError> {
    if !bundle_exists(index, width, size) {
        return Err(TileError::NotFound {
            path: TilePath::Entries { index, width }.path(),
            size,
        });
    }
    let first = index * TILE_WIDTH;
    let rows = store.ledger_entries(first, u32::from(width)).await?;
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.bytes.len() + 2).sum());
    let mut rows = rows.into_iter();
    for i in first..first + u64::from(width) {
        let row = rows
            .next()
            .filter(|r| r.index == i)
            .ok_or(TileError::MissingEntry { index: i })?;
        let len = u16::try_from(row.bytes.len()).map_err(|_| TileError::EntryTooLong {
            index: i,
            len: row.bytes.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&row.bytes);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries; `None` if a length prefix runs past the end.
pub fn split_entry_bundle(bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return None;
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Some(out)
}

/// Opens a stored checkpoint's note without checking its signature (the reader of the
/// proof does that), checking that the signed size matches the stored one.
fn stored_checkpoint(record: &CheckpointRecord) -> Result<Checkpoint, TileError> {
    let checkpoint = Note::parse(record.note.as_bytes())
        .map_err(CheckpointError::from)
        .and_then(|note| Checkpoint::parse_text(note.text()))
        .map_err(|source| TileError::Checkpoint {
            id: record.id,
            source,
        })?;
    if checkpoint.size != record.size {
        return Err(TileError::CheckpointSize {
            id: record.id,
            stored: record.size,
            signed: checkpoint.size,
        });
    }
    Ok(checkpoint)
}

/// A C2SP `tlog-proof@v1` for entry `index` against the stored `checkpoint` (its note is
/// included verbatim). The proof is checked against the checkpoint's root before it is
/// returned, so a corrupt database never hands out a proof that fails.
pub async fn tlog_proof<S: LedgerStore + Sync>(
    store: &S,
    index: u64,
    checkpoint: &CheckpointRecord,
) -> Result<String, TileError> {
    let cp = stored_checkpoint(checkpoint)?;
    if index >= cp.size {
        return Err(TileError::IndexOutOfRange {
            index,
            size: cp.size,
        });
    }
    let plan = ProofPlan::inclusion(index, cp.size).map_err(|_| TileError::IndexOutOfRange {
        index,
        size: cp.size,
    })?;
    let hashes = if plan.nodes().is_empty() {
        Vec::new()
    } else {
        store.ledger_read_hashes(plan.nodes().to_vec()).await?
    };
    let proof = plan.finish(&hashes).map_err(|_| TileError::ShortRead {
        got: hashes.len(),
        want: plan.nodes().len(),
    })?;
    let entry = store
        .ledger_entries(index, 1)
        .await?
        .into_iter()
        .next()
        .filter(|r| r.index == index)
        .ok_or(TileError::MissingEntry { index })?;
    let root = root_from_inclusion_proof(&leaf_hash(&entry.bytes), index, cp.size, &proof);
    if root.ok() != Some(cp.root) {
        return Err(TileError::ProofMismatch {
            index,
            id: checkpoint.id,
        });
    }
    Ok(TlogProof {
        extra: None,
        index,
        proof,
        checkpoint: checkpoint.note.clone(),
    }
    .to_text())
}
