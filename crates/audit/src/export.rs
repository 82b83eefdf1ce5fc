//! `aigov audit export`: writes the log as a static C2SP `tlog-tiles` directory an auditor
//! can verify offline (`aigov audit verify --dir`) or read with any tlog-tiles client: the
//! newest signed checkpoint, every hash tile for its size, the entry bundles of a chosen
//! range, the older checkpoints, the verifier key, a manifest and a README.

use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ledger::{Checkpoint, CheckpointError, Entry, EntryError, VerifierKey};
use store::{LedgerStore, StoreError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::tiles::{
    TileError, TilePath, bundles_for_range, read_entry_bundle, read_tile, tiles_for_size,
};

/// Identifies the export layout in `manifest.json`.
pub const EXPORT_FORMAT: &str = "aigov-audit-export/v1";

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Directory to create; it must not exist or be empty.
    pub out_dir: PathBuf,
    /// The log's checkpoint origin.
    pub origin: String,
    /// The log's verifier key; the newest checkpoint must verify with it.
    pub key: VerifierKey,
    /// First entry to include.
    pub from: u64,
    /// End of the entries to include (exclusive); `None` means the anchor's size. Clamped
    /// to the anchor's size.
    pub to: Option<u64>,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The finished directory.
    pub dir: PathBuf,
    /// The newest stored checkpoint, which everything is exported for.
    pub anchor: Checkpoint,
    /// Entries exported (the start rounded down to a multiple of 256, where bundles start).
    pub entries: Range<u64>,
    /// Entry bundle files.
    pub entry_bundles: usize,
    /// Hash tile files.
    pub tiles: usize,
    /// `checkpoints/<size>` files.
    pub checkpoints: usize,
    /// Files written, all kinds together.
    pub files: usize,
    /// Bytes written, all files together.
    pub bytes: u64,
}

/// An export failed; nothing was left at the output directory.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "the log has no checkpoint yet: start the server (or wait for its first checkpoint) and export again"
    )]
    NoCheckpoint,
    #[error(
        "the newest checkpoint (id {id}, size {size}) does not verify with origin `{origin}` and key `{key}`"
    )]
    AnchorInvalid {
        id: i64,
        size: u64,
        origin: String,
        key: String,
        #[source]
        source: CheckpointError,
    },
    #[error(
        "entry range {from}..{to} is reversed (the log's newest checkpoint has {size} entries)"
    )]
    BadRange { from: u64, to: u64, size: u64 },
    #[error("output directory `{0}` exists and is not empty")]
    NotEmpty(PathBuf),
    #[error("`{0}` already exists (left by an interrupted export?): remove it and export again")]
    PartialExists(PathBuf),
    #[error("entry {index} is not a valid entry, so its time is unknown")]
    UndecodableEntry {
        index: u64,
        #[source]
        source: EntryError,
    },
    #[error("cannot write `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tile(#[from] TileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The index of the first entry whose time is at or after `micros` (microseconds since
/// the Unix epoch) among the first `size` entries, or `size` if there is none. A binary
/// search: entry times grow with the index (they are taken when the event is recorded).
pub async fn first_index_at<S: LedgerStore + Sync>(
    store: &S,
    micros: i64,
    size: u64,
) -> Result<u64, ExportError> {
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row = store
            .ledger_entries(mid, 1)
            .await?
            .into_iter()
            .next()
            .filter(|r| r.index == mid)
            .ok_or(TileError::MissingEntry { index: mid })?;
        let entry = Entry::from_canonical_bytes(&row.bytes)
            .map_err(|source| ExportError::UndecodableEntry { index: mid, source })?;
        if entry.time.unix_micros() < micros {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Files written below the `.partial` directory, counted.
struct Writer {
    root: PathBuf,
    files: usize,
    bytes: u64,
}

impl Writer {
    fn write(&mut self, rel: &str, data: &[u8]) -> Result<(), ExportError> {
        let path = self.root.join(rel);
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(data).map_err(io)?;
        file.sync_all().map_err(io)?;
        self.files += 1;
        self.bytes += data.len() as u64;
        Ok(())
    }
}

/// `<dir>.partial`, next to `dir`.
fn partial_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Writes the export (see the module docs). Everything goes to `<out_dir>.partial` first,
/// which is renamed to `out_dir` only once complete; on failure it is removed.
pub async fn export<S: LedgerStore + Sync>(
    store: &S,
    options: ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let records = store.ledger_checkpoints().await?;
    let newest = records.last().ok_or(ExportError::NoCheckpoint)?;
    let anchor = Checkpoint::open(newest.note.as_bytes(), &options.origin, &options.key).map_err(
        |source| ExportError::AnchorInvalid {
            id: newest.id,
            size: newest.size,
            origin: options.origin.clone(),
            key: options.key.to_string(),
            source,
        },
    )?;
    let size = anchor.size;
    let to = options.to.unwrap_or(size).min(size);
    if options.from > to {
        return Err(ExportError::BadRange {
            from: options.from,
            to,
            size,
        });
    }
    let bundles = bundles_for_range(options.from, to);
    let from = bundles.first().map_or(to, |(n, _)| n * ledger::TILE_WIDTH);

    let out = &options.out_dir;
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ExportError::NotEmpty(out.clone()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ExportError::Io {
                path: out.clone(),
                source,
            });
        }
    }
    let partial = partial_path(out);
    match std::fs::create_dir(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(ExportError::PartialExists(partial));
        }
        Err(source) => {
            return Err(ExportError::Io {
                path: partial,
                source,
            });
        }
    }
    let mut writer = Writer {
        root: partial.clone(),
        files: 0,
        bytes: 0,
    };
    let written = write_all(
        store,
        &mut writer,
        &options,
        &records,
        &newest.note,
        &anchor,
        (from, to),
        &bundles,
    )
    .await;
    let counts = match written {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if let Err(source) = std::fs::rename(&partial, out) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(ExportError::Io {
            path: out.clone(),
            source,
        });
    }
    Ok(ExportSummary {
        dir: out.clone(),
        anchor,
        entries: from..to,
        entry_bundles: bundles.len(),
        tiles: counts.tiles,
        checkpoints: counts.checkpoints,
        files: writer.files,
        bytes: writer.bytes,
    })
}

struct Counts {
    tiles: usize,
    checkpoints: usize,
}

#[allow(clippy::too_many_arguments)]
async fn write_all<S: LedgerStore + Sync>(
    store: &S,
    w: &mut Writer,
    options: &ExportOptions,
    records: &[store::CheckpointRecord],
    anchor_note: &str,
    anchor: &Checkpoint,
    (from, to): (u64, u64),
    bundles: &[(u64, u16)],
) -> Result<Counts, ExportError> {
    let size = anchor.size;
    let tiles = tiles_for_size(size);
    for &tile in &tiles {
        let data = read_tile(store, tile, size).await?;
        w.write(&tile.path(), &data)?;
    }
    for &(index, width) in bundles {
        let data = read_entry_bundle(store, index, width, size).await?;
        w.write(&TilePath::Entries { index, width }.path(), &data)?;
    }
    let mut sizes = std::collections::BTreeSet::new();
    for record in records.iter().filter(|r| r.size <= size) {
        if sizes.insert(record.size) {
            w.write(
                &format!("checkpoints/{}", record.size),
                record.note.as_bytes(),
            )?;
        }
    }
    w.write("checkpoint", anchor_note.as_bytes())?;
    w.write("key.pub", format!("{}\n", options.key).as_bytes())?;
    let exported_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let manifest = serde_json::json!({
        "format": EXPORT_FORMAT,
        "origin": options.origin,
        "key": {
            "name": options.key.name(),
            "id": format!("{:08x}", options.key.key_id()),
            "verifier": options.key.to_string(),
        },
        "anchor": {
            "size": size,
            "root": anchor.root.to_base64(),
            "root_hex": anchor.root.to_hex(),
        },
        "entries": {
            "from": from,
            "to": to,
            "requested_from": options.from,
        },
        "counts": {
            "entries": to - from,
            "entry_bundles": bundles.len(),
            "tiles": tiles.len(),
            "checkpoints": sizes.len(),
        },
        "aigov_version": env!("CARGO_PKG_VERSION"),
        "exported_at": exported_at,
    });
    let mut manifest = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    manifest.push('\n');
    w.write("manifest.json", manifest.as_bytes())?;
    w.write(
        "README.md",
        readme(options, anchor, (from, to), tiles.len(), sizes.len()).as_bytes(),
    )?;
    Ok(Counts {
        tiles: tiles.len(),
        checkpoints: sizes.len(),
    })
}

fn readme(
    options: &ExportOptions,
    anchor: &Checkpoint,
    (from, to): (u64, u64),
    tiles: usize,
    checkpoints: usize,
) -> String {
    let origin = &options.origin;
    let size = anchor.size;
    let root = anchor.root.to_base64();
    let entries = if from < to {
        format!("entries {from} to {} (inclusive)", to - 1)
    } else {
        "no entries".to_owned()
    };
    let range_note = if from < to {
        format!("Only {entries} are included as entry bundles (bundles start at multiples of 256).")
    } else {
        "No entries are included as entry bundles.".to_owned()
    };
    format!(
        r#"# aigov audit log export

An offline copy of the aigov audit log `{origin}`, exported by aigov {version}:

- the log's newest signed checkpoint: size {size}, root `{root}` (hex `{root_hex}`);
- every Merkle tree hash needed to recompute that root ({tiles} tiles);
- {entries};
- the {checkpoints} signed checkpoints the log wrote up to that size.

Nothing here has to be trusted: everything is recomputed and checked against the log's
signature, made with the key `{key}`.

## Files

- `checkpoint`: the anchor, a C2SP signed checkpoint (`tlog-checkpoint`): origin, tree size
  and root hash, signed by the log's Ed25519 key.
- `tile/<L>/<N>[.p/<W>]`: C2SP `tlog-tiles` hash tiles, 256 SHA-256 hashes (8192 bytes)
  each; partial tiles (`.p/<W>`, W hashes) at the right edge. Level 0 holds one leaf hash per
  entry (RFC 9162: `SHA-256(0x00 || entry)`); each hash at level L+1 is the Merkle tree hash
  of a full tile at level L. `<N>` is written in 3-digit groups, e.g. `x001/234`.
- `tile/entries/<N>[.p/<W>]`: entry bundles, the entries themselves: each entry as a
  big-endian 16-bit length followed by its bytes, 256 entries per full bundle. Each entry is
  a canonical JSON ledger entry (version 1) and hashes to its leaf hash in `tile/0`.
- `checkpoints/<size>`: the signed checkpoints the log wrote, named by tree size.
- `key.pub`: the log's verifier key (`<name>+<key id>+<base64 key>`), for reference only.
- `manifest.json`: what was exported (origin, key, anchor, entry range, counts, version,
  time). It is not signed; verification does not rely on it.

## Entries outside the range

{range_note} Every other entry is still committed to by its leaf hash in the level-0 tiles, so the tree and its
root are complete, and an entry shown to you later (with `aigov audit proof`, or another
export) can be checked against the same signed checkpoints; but its content is not here.

## Verifying

    aigov audit verify --dir DIR --origin {origin} --key KEY

recomputes the root from the level-0 tiles and compares it with the signed `checkpoint`,
checks every higher-level tile against the hashes below it, decodes every exported entry and
compares its hash with its level-0 tile, and checks every file in `checkpoints/` (signature,
origin, and root at its size). Each problem names the tile, entry index or checkpoint file.
Exit code 0 means verified, 1 problems found, 2 the tool failed.

Pin the key: pass the verifier key you received from the log's operator out of band (their
documentation, a signed email, your own earlier records) as `--key`, not `key.pub`. Anyone
able to alter this directory can also replace `key.pub` and sign forged checkpoints with a
key of their own; only a key you obtained independently shows that the log's operator signed
them. Without `--key`, `aigov audit verify --dir` uses `key.pub` and warns that the key was
not pinned.

If you saved a checkpoint of this log earlier (from the server, or from an earlier export),
add `--from-checkpoint FILE`: an RFC 9162 consistency proof then shows that the log you saw
then is a prefix of this one, i.e. nothing before it was rewritten or removed since.

## Other tools

The layout is C2SP `tlog-tiles` (https://c2sp.org/tlog-tiles), with a `tlog-checkpoint`
signed by an Ed25519 `signed-note` key, so any tlog-tiles client can read it: serve this
directory over HTTP (for example `python3 -m http.server`) and give the client its URL as
the log prefix, origin `{origin}` and the verifier key. Only the partial tiles of the
anchor's size are included: verify against `checkpoint`, not the older `checkpoints/`
(whose roots `aigov audit verify` recomputes from the same tiles).
"#,
        version = env!("CARGO_PKG_VERSION"),
        root_hex = anchor.root.to_hex(),
        key = options.key,
    )
}
