//! Offline verification of an exported directory (`aigov audit verify --dir`): recomputes the
//! tree from the level-0 tiles and checks the anchor checkpoint, every higher tile, every
//! exported entry, every `checkpoints/<size>` file and the manifest, naming the file, tile
//! position or entry index of each problem. Also reads hashes from the tiles for consistency
//! proofs ([`DirHashReader`]). Files only; no store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ledger::note::MAX_NOTE_BYTES;
use ledger::{
    Checkpoint, CompactRange, Entry, Hash, HashReader, NodeId, TILE_HEIGHT, TILE_WIDTH, TileId,
    TreeHead, VerifierKey, empty_root, leaf_hash, node_hash,
};

use crate::consistency::{Consistency, error_chain, judge, open_saved, plans};
use crate::export::EXPORT_FORMAT;
use crate::tiles::{
    MAX_BUNDLE_ENTRY, TilePath, bundles_for_range, hashes_at_level, tiles_for_size,
};
use crate::verify::Problem;

/// Problems reported before the rest are only counted.
const MAX_PROBLEMS: usize = 1000;
/// Largest `manifest.json` read.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Result of [`verify_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirReport {
    /// The anchor `checkpoint`, if it verified.
    pub anchor: Option<Checkpoint>,
    /// Size and root recomputed from the level-0 tiles (`None` if a level-0 tile is
    /// missing or damaged, or the anchor did not verify).
    pub computed: Option<TreeHead>,
    /// The exported entry range (from the manifest, else from the bundles present).
    pub entries: Range<u64>,
    /// Exported entries decoded and compared with their leaf hashes.
    pub entries_checked: u64,
    /// Tile files read.
    pub tiles: usize,
    /// `checkpoints/<size>` files whose signature and root verified.
    pub checkpoints: usize,
    /// Things worth knowing that are not problems with the log (e.g. `key.pub` differs
    /// from the pinned key).
    pub warnings: Vec<String>,
    /// Everything wrong: tiles and entries in log order, then checkpoints, then the
    /// manifest and unexpected files.
    pub problems: Vec<Problem>,
}

impl DirReport {
    /// Whether the export verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Indices named by entry problems.
    pub fn bad_entries(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::UndecodableEntry { index, .. }
                | Problem::BundleEntryModified { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }

    /// Files named by problems, in report order, without repeats.
    pub fn bad_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in self.problems.iter().filter_map(Problem::file) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }
}

/// The directory could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("`{0}` is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// The export's files, by relative `/`-separated path.
struct Files {
    root: PathBuf,
    /// Regular files and their lengths.
    present: BTreeMap<String, u64>,
}

impl Files {
    fn scan(root: &Path, problems: &mut Problems) -> Result<Files, DirError> {
        let mut files = Files {
            root: root.to_owned(),
            present: BTreeMap::new(),
        };
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let dir = if rel.is_empty() {
                root.to_owned()
            } else {
                root.join(&rel)
            };
            let io = |source| DirError::Io {
                path: dir.clone(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(io)? {
                let entry = entry.map_err(io)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                // Not followed: a symlink could point anywhere.
                let meta = std::fs::symlink_metadata(entry.path()).map_err(io)?;
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() {
                    files.present.insert(path, meta.len());
                } else {
                    problems.push(Problem::UnexpectedFile { path });
                }
            }
        }
        Ok(files)
    }

    fn len(&self, rel: &str) -> Option<u64> {
        self.present.get(rel).copied()
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>, DirError> {
        let path = self.root.join(rel);
        std::fs::read(&path).map_err(|source| DirError::Io { path, source })
    }
}

/// The Merkle tree hash of a power-of-two run of hashes (a complete subtree).
fn subtree_root(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// Number of tiles (full and partial, every level) of a tree of `size` leaves.
fn tile_count(size: u64) -> u64 {
    (0u8..)
        .map(|level| hashes_at_level(size, level))
        .take_while(|&count| count > 0)
        .map(|count| count.div_ceil(TILE_WIDTH))
        .sum()
}

/// The tile holding hash `k` at tile level `level` in a tree whose level has `count` hashes.
fn tile_of(level: u8, k: u64, count: u64) -> TileId {
    let index = k / TILE_WIDTH;
    if (index + 1) * TILE_WIDTH <= count {
        TileId::full(level, index)
    } else {
        TileId {
            level,
            index,
            width: (count % TILE_WIDTH) as u16,
        }
    }
}

fn decode_hashes(data: &[u8]) -> Vec<Hash> {
    data.chunks_exact(Hash::LEN)
        .filter_map(Hash::from_slice)
        .collect()
}

/// Reads a tile file, reporting a missing or wrong-length file.
fn load_tile(
    files: &Files,
    tile: TileId,
    problems: &mut Problems,
) -> Result<Option<Vec<Hash>>, DirError> {
    let path = tile.path();
    let expected = u64::from(tile.width) * Hash::LEN as u64;
    match files.len(&path) {
        None => {
            problems.push(Problem::MissingFile { path });
            Ok(None)
        }
        Some(len) if len != expected => {
            problems.push(Problem::TruncatedFile {
                path,
                len,
                expected,
            });
            Ok(None)
        }
        Some(_) => {
            let data = files.read(&path)?;
            if data.len() as u64 != expected {
                // Changed while we read it.
                problems.push(Problem::TruncatedFile {
                    path,
                    len: data.len() as u64,
                    expected,
                });
                return Ok(None);
            }
            Ok(Some(decode_hashes(&data)))
        }
    }
}

/// Whether `s` is a decimal without leading zeroes.
fn is_canonical_decimal(s: &str) -> bool {
    s == "0"
        || (s.starts_with(|c: char| matches!(c, '1'..='9'))
            && s.bytes().all(|b| b.is_ascii_digit()))
}

/// A checkpoint to compare with the recomputed root at its size.
struct Head {
    /// `None` for the anchor.
    path: Option<String>,
    root: Hash,
}

struct Manifest {
    from: u64,
    to: u64,
    checkpoints: Option<u64>,
}

fn check_manifest(
    files: &Files,
    anchor: &Checkpoint,
    origin: &str,
    key: &VerifierKey,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Result<Option<Manifest>, DirError> {
    let mismatch = |message: String| Problem::ManifestMismatch { message };
    let Some(len) = files.len("manifest.json") else {
        problems.push(Problem::MissingFile {
            path: "manifest.json".into(),
        });
        return Ok(None);
    };
    if len > MAX_MANIFEST_BYTES {
        problems.push(mismatch(format!("is {len} bytes, too large")));
        return Ok(None);
    }
    let value: serde_json::Value = match serde_json::from_slice(&files.read("manifest.json")?) {
        Ok(v) => v,
        Err(e) => {
            problems.push(mismatch(format!("is not valid JSON: {e}")));
            return Ok(None);
        }
    };
    let text = |ptr: &str| value.pointer(ptr).and_then(|v| v.as_str());
    let number = |ptr: &str| value.pointer(ptr).and_then(|v| v.as_u64());
    if text("/format") != Some(EXPORT_FORMAT) {
        problems.push(mismatch(format!(
            "format is {}, expected `{EXPORT_FORMAT}`",
            value
                .pointer("/format")
                .map_or("missing".into(), |v| format!("`{v}`"))
        )));
        return Ok(None);
    }
    if text("/origin") != Some(origin) {
        problems.push(mismatch(format!(
            "origin is `{}`, but the log's is `{origin}`",
            text("/origin").unwrap_or_default()
        )));
    }
    if number("/anchor/size") != Some(anchor.size)
        || text("/anchor/root") != Some(anchor.root.to_base64().as_str())
    {
        problems.push(mismatch(format!(
            "anchor is size {} root `{}`, but `checkpoint` has size {} root `{}`",
            number("/anchor/size").map_or("?".into(), |n| n.to_string()),
            text("/anchor/root").unwrap_or("?"),
            anchor.size,
            anchor.root.to_base64()
        )));
    }
    if let Some(listed) = text("/key/verifier")
        && listed != key.to_string()
    {
        warnings.push(format!(
            "`manifest.json` names key `{listed}`, not the key used to verify (`{key}`)"
        ));
    }
    let (from, to) = match (number("/entries/from"), number("/entries/to")) {
        (Some(from), Some(to)) if from <= to && to <= anchor.size && from % TILE_WIDTH == 0 => {
            (from, to)
        }
        (from, to) => {
            problems.push(mismatch(format!(
                "entry range {}..{} is not a range of whole bundles within the anchor's {} entries",
                from.map_or("?".into(), |n| n.to_string()),
                to.map_or("?".into(), |n| n.to_string()),
                anchor.size
            )));
            return Ok(None);
        }
    };
    Ok(Some(Manifest {
        from,
        to,
        checkpoints: number("/counts/checkpoints"),
    }))
}

/// Checks the entry bundle `index` (of `width` entries) against the level-0 tile's hashes.
fn check_bundle(
    files: &Files,
    index: u64,
    width: u16,
    leaves: &[Hash],
    problems: &mut Problems,
) -> Result<u64, DirError> {
    let path = TilePath::Entries { index, width }.path();
    let malformed = |message: String| Problem::MalformedBundle {
        path: path.clone(),
        message,
    };
    let Some(len) = files.len(&path) else {
        problems.push(Problem::MissingFile { path });
        return Ok(0);
    };
    let max = u64::from(width) * (2 + MAX_BUNDLE_ENTRY as u64);
    if len > max {
        problems.push(malformed(format!(
            "it is {len} bytes, more than {width} entries can be"
        )));
        return Ok(0);
    }
    let data = files.read(&path)?;
    let mut checked = 0;
    let mut rest = &data[..];
    let first = index * TILE_WIDTH;
    let mut n = 0u64;
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let Some((prefix, tail)) = rest.split_first_chunk::<2>() else {
            problems.push(malformed(format!(
                "a length prefix at byte {offset} is cut off"
            )));
            break;
        };
        let entry_len = usize::from(u16::from_be_bytes(*prefix));
        if tail.len() < entry_len {
            problems.push(malformed(format!(
                "entry {} (length prefix at byte {offset}) claims {entry_len} bytes but only {} remain",
                first + n,
                tail.len()
            )));
            break;
        }
        let (bytes, tail) = tail.split_at(entry_len);
        rest = tail;
        if n < u64::from(width) {
            let at = first + n;
            if let Err(e) = Entry::from_canonical_bytes(bytes) {
                problems.push(Problem::UndecodableEntry {
                    index: at,
                    message: e.to_string(),
                });
            }
            if leaf_hash(bytes) != leaves[n as usize] {
                problems.push(Problem::BundleEntryModified {
                    path: path.clone(),
                    index: at,
                });
            }
            checked += 1;
        }
        n += 1;
    }
    if rest.is_empty() && n != u64::from(width) {
        problems.push(malformed(format!("it holds {n} entries, expected {width}")));
    }
    Ok(checked)
}

/// Opens every `checkpoints/<size>` file (signature, origin, name, size within the anchor's),
/// adding each one that opens to `heads` for the root comparison and to `known`. Returns how
/// many there are.
fn check_checkpoint_files(
    files: &Files,
    origin: &str,
    key: &VerifierKey,
    size: u64,
    known: &mut BTreeSet<String>,
    heads: &mut BTreeMap<u64, Vec<Head>>,
    late: &mut Problems,
) -> Result<u64, DirError> {
    let mut checkpoint_files = 0u64;
    for (path, &len) in files.present.range("checkpoints/".to_owned()..) {
        let Some(name) = path.strip_prefix("checkpoints/") else {
            break;
        };
        if name.contains('/') || !is_canonical_decimal(name) {
            continue; // reported as unexpected below
        }
        known.insert(path.clone());
        checkpoint_files += 1;
        let opened = if len > MAX_NOTE_BYTES as u64 {
            Err(format!("it is {len} bytes, too large"))
        } else {
            Checkpoint::open(&files.read(path)?, origin, key).map_err(|e| e.to_string())
        };
        match opened {
            Err(message) => late.push(Problem::CheckpointFileInvalid {
                path: path.clone(),
                message,
            }),
            Ok(cp) if cp.size.to_string() != name => late.push(Problem::CheckpointFileInvalid {
                path: path.clone(),
                message: format!("it is signed for size {}, not {name}", cp.size),
            }),
            Ok(cp) if cp.size > size => late.push(Problem::CheckpointFileBeyondAnchor {
                path: path.clone(),
                size: cp.size,
                anchor: size,
            }),
            Ok(cp) => heads.entry(cp.size).or_default().push(Head {
                path: Some(path.clone()),
                root: cp.root,
            }),
        }
    }
    Ok(checkpoint_files)
}

/// Compares the hashes of the tiles above level 0 (`upper[level][k]`, as read from the files)
/// with the hashes recomputed from the level below, starting from `recomputed` (the hashes
/// of the full level-0 tiles). Where the level below is missing, the file's own hash is used
/// to go on checking the levels above.
fn check_upper_tiles(
    upper: &[Vec<Option<Hash>>],
    recomputed: Vec<Option<Hash>>,
    problems: &mut Problems,
) {
    let mut below = recomputed;
    for (level, stored) in upper.iter().enumerate().skip(1) {
        let count = stored.len() as u64;
        for (k, (r, s)) in below.iter().zip(stored).enumerate() {
            if let (Some(r), Some(s)) = (r, s)
                && r != s
            {
                let k = k as u64;
                problems.push(Problem::TileHashMismatch {
                    path: tile_of(level as u8, k, count).path(),
                    position: k % TILE_WIDTH,
                    node: NodeId::new(level as u8 * TILE_HEIGHT, k),
                });
            }
        }
        let merged: Vec<Option<Hash>> = below.iter().zip(stored).map(|(r, s)| r.or(*s)).collect();
        below = merged
            .chunks_exact(TILE_WIDTH as usize)
            .map(|c| {
                c.iter()
                    .copied()
                    .collect::<Option<Vec<Hash>>>()
                    .map(|hs| subtree_root(&hs))
            })
            .collect();
    }
}

/// Verifies an exported directory (see the module docs) against `origin` and `key`, which
/// must be the log's (pin it: do not take it from the directory).
pub fn verify_dir(dir: &Path, origin: &str, key: &VerifierKey) -> Result<DirReport, DirError> {
    if !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(DirError::NotADirectory(dir.to_owned()));
    }
    let mut problems = Problems {
        list: Vec::new(),
        omitted: 0,
    };
    let mut warnings = Vec::new();
    let files = Files::scan(dir, &mut problems)?;
    let mut report = DirReport {
        anchor: None,
        computed: None,
        entries: 0..0,
        entries_checked: 0,
        tiles: 0,
        checkpoints: 0,
        warnings: Vec::new(),
        problems: Vec::new(),
    };

    // The anchor: without it nothing else can be judged.
    let anchor = match files.len("checkpoint") {
        None => Err("`checkpoint` is missing".to_owned()),
        Some(len) if len > MAX_NOTE_BYTES as u64 => {
            Err(format!("`checkpoint` is {len} bytes, too large"))
        }
        Some(_) => {
            Checkpoint::open(&files.read("checkpoint")?, origin, key).map_err(|e| e.to_string())
        }
    };
    let anchor = match anchor {
        Ok(a) => a,
        Err(message) => {
            problems.push(Problem::AnchorInvalid { message });
            report.problems = problems.list;
            return Ok(report);
        }
    };
    let size = anchor.size;
    // Guard against a checkpoint claiming far more than the directory can hold: listing (and
    // allocating for) every tile it would need is only done when that is plausible.
    let needed = tile_count(size);
    let present = files.present.len() as u64;
    if needed > 2 * present + 1024 {
        problems.push(Problem::NotChecked {
            what: "the tree".into(),
            reason: format!(
                "the anchor `checkpoint` claims {size} entries, which need {needed} tiles, but the directory holds only {present} files"
            ),
        });
        report.anchor = Some(anchor);
        report.problems = problems.list;
        return Ok(report);
    }
    if let Some(len) = files.len("key.pub")
        && len < 4096
    {
        let text = String::from_utf8_lossy(&files.read("key.pub")?)
            .trim()
            .to_owned();
        if text != key.to_string() {
            warnings.push(format!(
                "`key.pub` holds `{text}`, not the key used to verify (`{key}`)"
            ));
        }
    }
    let mut late = Problems {
        list: Vec::new(),
        omitted: 0,
    };
    let manifest = check_manifest(&files, &anchor, origin, key, &mut late, &mut warnings)?;

    // Which files belong here.
    let tiles = tiles_for_size(size);
    let bundles = match &manifest {
        Some(m) => bundles_for_range(m.from, m.to),
        None => files
            .present
            .keys()
            .filter_map(|p| match TilePath::parse(p) {
                Ok(TilePath::Entries { index, width })
                    if TilePath::Entries { index, width }.exists(size) =>
                {
                    Some((index, width))
                }
                _ => None,
            })
            .collect(),
    };
    report.entries = match (&manifest, bundles.first(), bundles.last()) {
        (Some(m), _, _) => m.from..m.to,
        (None, Some(&(a, _)), Some(&(b, w))) => a * TILE_WIDTH..b * TILE_WIDTH + u64::from(w),
        _ => 0..0,
    };
    let mut known: BTreeSet<String> = ["checkpoint", "manifest.json", "README.md", "key.pub"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    known.extend(tiles.iter().map(TileId::path));
    known.extend(
        bundles
            .iter()
            .map(|&(index, width)| TilePath::Entries { index, width }.path()),
    );

    // Checkpoint files: signature, origin, name; their roots are compared below.
    let mut heads: BTreeMap<u64, Vec<Head>> = BTreeMap::new();
    heads.entry(size).or_default().push(Head {
        path: None,
        root: anchor.root,
    });
    let checkpoint_files =
        check_checkpoint_files(&files, origin, key, size, &mut known, &mut heads, &mut late)?;
    if let Some(listed) = manifest.as_ref().and_then(|m| m.checkpoints)
        && listed != checkpoint_files
    {
        late.push(Problem::ManifestMismatch {
            message: format!(
                "it lists {listed} checkpoints but `checkpoints/` holds {checkpoint_files}"
            ),
        });
    }
    let mut head_problems = Vec::new();
    let mut check_heads = |at: u64, computed: Hash, heads: &mut BTreeMap<u64, Vec<Head>>| {
        for head in heads.remove(&at).into_iter().flatten() {
            if head.root == computed {
                if head.path.is_some() {
                    report.checkpoints += 1;
                }
                continue;
            }
            head_problems.push(match head.path {
                None => Problem::AnchorMismatch {
                    size: at,
                    claimed: head.root,
                    computed,
                },
                Some(path) => Problem::CheckpointFileMismatch {
                    path,
                    size: at,
                    claimed: head.root,
                    computed,
                },
            });
        }
    };
    check_heads(0, empty_root(), &mut heads);

    // Higher levels, as stored in the files.
    let mut upper: Vec<Vec<Option<Hash>>> = vec![Vec::new()];
    for level in 1.. {
        let count = hashes_at_level(size, level);
        if count == 0 {
            break;
        }
        upper.push(vec![None; count as usize]);
    }
    for &tile in tiles.iter().filter(|t| t.level > 0) {
        report.tiles += 1;
        if let Some(hashes) = load_tile(&files, tile, &mut problems)? {
            let slots = &mut upper[usize::from(tile.level)];
            let first = (tile.index * TILE_WIDTH) as usize;
            for (slot, h) in slots[first..].iter_mut().zip(hashes) {
                *slot = Some(h);
            }
        }
    }

    // Level 0, streamed: the root and every checkpoint, the exported entries, and the
    // hashes of full level-0 tiles (level 1, recomputed).
    let widths: HashMap<u64, u16> = bundles.iter().copied().collect();
    let mut edge = CompactRange::new();
    let mut broken: Option<String> = None;
    let mut recomputed: Vec<Option<Hash>> = vec![None; hashes_at_level(size, 1) as usize];
    for &tile in tiles.iter().filter(|t| t.level == 0) {
        report.tiles += 1;
        let hashes = load_tile(&files, tile, &mut problems)?;
        let bundle = widths.get(&tile.index).copied();
        let Some(hashes) = hashes else {
            broken.get_or_insert_with(|| tile.path());
            if let Some(width) = bundle {
                problems.push(Problem::NotChecked {
                    what: format!(
                        "`{}`",
                        TilePath::Entries {
                            index: tile.index,
                            width
                        }
                    ),
                    reason: format!("its level-0 tile `{}` is missing or damaged", tile.path()),
                });
            }
            continue;
        };
        if broken.is_none() {
            for h in &hashes {
                edge.append(*h);
                if heads.contains_key(&edge.size()) {
                    check_heads(edge.size(), edge.root(), &mut heads);
                }
            }
        }
        if !tile.is_partial() {
            recomputed[tile.index as usize] = Some(subtree_root(&hashes));
        }
        if let Some(width) = bundle {
            report.entries_checked +=
                check_bundle(&files, tile.index, width, &hashes, &mut problems)?;
        }
    }
    if broken.is_none() {
        report.computed = Some(TreeHead {
            size,
            root: if size == 0 { empty_root() } else { edge.root() },
        });
    }
    for (at, unchecked) in std::mem::take(&mut heads) {
        for head in unchecked {
            let what = match head.path {
                None => "the anchor `checkpoint`'s root".to_owned(),
                Some(path) => format!("the root of `{path}`"),
            };
            problems.push(Problem::NotChecked {
                what,
                reason: format!(
                    "the level-0 tiles up to size {at} are incomplete (`{}`)",
                    broken.as_deref().unwrap_or("?")
                ),
            });
        }
    }

    check_upper_tiles(&upper, recomputed, &mut problems);

    // Anything else in the directory.
    for path in files.present.keys().filter(|p| !known.contains(*p)) {
        late.push(Problem::UnexpectedFile { path: path.clone() });
    }

    let mut list = problems.list;
    list.extend(head_problems);
    list.extend(late.list);
    let omitted = problems.omitted + late.omitted;
    if omitted > 0 {
        list.push(Problem::Truncated { omitted });
    }
    report.anchor = Some(anchor);
    report.warnings = warnings;
    report.problems = list;
    Ok(report)
}

/// Stored hashes read from an export's tiles: a node at tree level `8t + r` is the hash of
/// `2^r` consecutive hashes of one tile at tile level `t`. For consistency and inclusion
/// proofs of any size up to the anchor's, like any tlog-tiles client.
#[derive(Debug, Clone)]
pub struct DirHashReader {
    root: PathBuf,
    size: u64,
}

/// A hash could not be read from an export's tiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read level {} index {} from `{path}`: {message}", node.level, node.index)]
pub struct DirHashError {
    pub node: NodeId,
    pub path: String,
    pub message: String,
}

impl DirHashReader {
    /// Reads from the export at `dir`, whose anchor has `size` entries.
    pub fn new(dir: &Path, size: u64) -> DirHashReader {
        DirHashReader {
            root: dir.to_owned(),
            size,
        }
    }
}

impl HashReader for DirHashReader {
    type Error = DirHashError;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, DirHashError> {
        let mut cache: HashMap<TileId, Vec<Hash>> = HashMap::new();
        let mut out = Vec::with_capacity(nodes.len());
        for &node in nodes {
            let level = node.level / TILE_HEIGHT;
            let r = node.level % TILE_HEIGHT;
            let count = hashes_at_level(self.size, level);
            let first = node.index.checked_shl(u32::from(r)).unwrap_or(u64::MAX);
            let width = 1u64 << r;
            let tile = tile_of(level, first, count);
            let fail = |message: String| DirHashError {
                node,
                path: tile.path(),
                message,
            };
            if first.saturating_add(width) > count {
                return Err(fail(format!(
                    "the node is not complete in a tree of {} entries",
                    self.size
                )));
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(tile) {
                let data =
                    std::fs::read(self.root.join(tile.path())).map_err(|e| fail(e.to_string()))?;
                if data.len() != usize::from(tile.width) * Hash::LEN {
                    return Err(fail(format!(
                        "it is {} bytes, expected {}",
                        data.len(),
                        usize::from(tile.width) * Hash::LEN
                    )));
                }
                slot.insert(decode_hashes(&data));
            }
            let hashes = &cache[&tile];
            let at = (first % TILE_WIDTH) as usize;
            out.push(subtree_root(&hashes[at..at + width as usize]));
        }
        Ok(out)
    }
}

/// Checks the saved checkpoint `saved` against the export's anchor `checkpoint` with a
/// consistency proof built from the export's tiles.
pub fn check_consistency_dir(
    dir: &Path,
    saved: &[u8],
    origin: &str,
    key: &VerifierKey,
) -> Result<Consistency, DirError> {
    let old = match open_saved(saved, origin, key) {
        Ok(old) => old,
        Err(invalid) => return Ok(*invalid),
    };
    let path = dir.join("checkpoint");
    let note = std::fs::read(&path).map_err(|source| DirError::Io { path, source })?;
    let new = match Checkpoint::open(&note, origin, key) {
        Ok(c) => c.head(),
        Err(e) => {
            return Ok(Consistency::Unverifiable {
                message: format!("the export's `checkpoint` does not verify: {e}"),
            });
        }
    };
    let against = "the export's `checkpoint`".to_owned();
    let (proof_plan, root_plan) = match plans(old, new, &against) {
        Ok(p) => p,
        Err(verdict) => return Ok(*verdict),
    };
    let reader = DirHashReader::new(dir, new.size);
    let read = |plan: &ledger::ProofPlan| plan.read(&reader).map_err(|e| error_chain(&e));
    let (proof, root_at_old) = match (read(&proof_plan), read(&root_plan)) {
        (Ok(proof), Ok(root)) => (proof, root.first().copied().unwrap_or_else(empty_root)),
        (Err(message), _) | (_, Err(message)) => {
            return Ok(Consistency::Unverifiable { message });
        }
    };
    Ok(judge(old, new, against, &proof, root_at_old))
}
