//! `aigov audit verify|export|proof`: verifying the ledger in a database, in an export
//! directory, or one entry's `tlog-proof`; exporting the log as C2SP `tlog-tiles` for an
//! auditor; writing an entry's inclusion proof.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args};
use ledger::{Entry, VerifierKey};
use store::{LedgerStore, Store};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::audit::{read_verifier, store_config};
use crate::exit;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["db", "dir", "proof"])))]
pub(crate) struct VerifyArgs {
    /// Verify a database: SQLite file, or a `postgres://` URL (password from `PGPASSWORD`)
    #[arg(long, value_name = "PATH|URL")]
    db: Option<String>,
    /// Verify a directory written by `aigov audit export`
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Verify one entry's `tlog-proof` file (from `aigov audit proof`); needs --entry
    #[arg(long, value_name = "FILE", requires = "entry")]
    proof: Option<PathBuf>,
    /// The entry's canonical bytes, for --proof (`aigov audit proof --entry-out`)
    #[arg(long, value_name = "FILE", requires = "proof")]
    entry: Option<PathBuf>,
    /// The log's checkpoint origin, e.g. `aigov.local/prod`
    #[arg(long)]
    origin: String,
    /// The log's verifier key (`<name>+<id>+<key>`), or `file:<path>` holding it; pin the
    /// key you got from the log's operator. Optional with --dir only: then the export's own
    /// `key.pub` is used, which proves nothing about who signed
    #[arg(long, value_name = "KEY", required_unless_present = "dir")]
    key: Option<String>,
    /// A checkpoint saved earlier: also prove the log now is consistent with it (nothing
    /// before it was rewritten or removed)
    #[arg(long, value_name = "FILE", conflicts_with = "proof")]
    from_checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// SQLite database file, or a `postgres://` URL (password from `PGPASSWORD`)
    #[arg(long, value_name = "PATH|URL")]
    db: String,
    /// The log's checkpoint origin, e.g. `aigov.local/prod`
    #[arg(long)]
    origin: String,
    /// The log's verifier key (`<name>+<id>+<key>`), or `file:<path>` holding it; the newest
    /// checkpoint must verify with it
    #[arg(long, value_name = "KEY")]
    key: String,
    /// Directory to create (it must not exist, or be empty)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// First entry to include: an index, an RFC 3339 time (`2025-01-02T15:04:05Z`) or a
    /// date (`2025-01-02`, midnight UTC) [default: 0]
    #[arg(long, value_name = "INDEX|TIME|DATE")]
    from: Option<String>,
    /// End of the entries to include, exclusive: an index, or a time or date (entries
    /// before it) [default: the newest checkpoint's size]
    #[arg(long, value_name = "INDEX|TIME|DATE")]
    to: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    /// SQLite database file, or a `postgres://` URL (password from `PGPASSWORD`)
    #[arg(long, value_name = "PATH|URL")]
    db: String,
    /// Index of the entry
    #[arg(long)]
    index: u64,
    /// Write the proof here instead of stdout (`.tlog-proof` by convention)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the entry's canonical bytes here (for `aigov audit verify --entry`)
    #[arg(long, value_name = "FILE")]
    entry_out: Option<PathBuf>,
}

async fn open(db: &str) -> anyhow::Result<Store> {
    let config = store_config(db);
    Store::open(&config)
        .await
        .with_context(|| format!("cannot open {config}"))
}

fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} `{}`", path.display()))
}

pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let key = match (&args.key, &args.dir) {
        (Some(key), _) => read_verifier(key)?,
        (None, Some(dir)) => unpinned_key(dir)?,
        (None, None) => bail!("--key is required"),
    };
    let saved = match &args.from_checkpoint {
        Some(path) => Some((path, read_file(path, "checkpoint")?)),
        None => None,
    };
    let code = if let Some(db) = &args.db {
        crate::runtime()?.block_on(verify_db(db, &args.origin, &key, saved.as_ref()))?
    } else if let Some(dir) = &args.dir {
        verify_dir(dir, &args.origin, &key, saved.as_ref())?
    } else {
        let (Some(proof), Some(entry)) = (&args.proof, &args.entry) else {
            bail!("--proof needs --entry");
        };
        verify_proof(proof, entry, &args.origin, &key)?
    };
    Ok(code)
}

/// The export's own `key.pub`, with a warning that it proves nothing.
fn unpinned_key(dir: &Path) -> anyhow::Result<VerifierKey> {
    let path = dir.join("key.pub");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no --key given and cannot read `{}`", path.display()))?;
    let key = VerifierKey::parse(text.trim())
        .with_context(|| format!("invalid verifier key in `{}`", path.display()))?;
    eprintln!(
        "WARNING: no --key given: verifying with the export's own `key.pub` ({key}).\n\
         WARNING: the key is NOT pinned: whoever can change this directory can replace key.pub\n\
         WARNING: and sign forged checkpoints. Pass the key you got from the log's operator with --key."
    );
    Ok(key)
}

/// Prints the consistency verdict for a saved checkpoint; whether it is consistent.
fn report_consistency(
    out: &mut impl std::io::Write,
    path: &Path,
    verdict: &audit::Consistency,
) -> anyhow::Result<bool> {
    let ok = verdict.is_consistent();
    let prefix = if ok { "ok" } else { "problem" };
    writeln!(out, "{prefix}: checkpoint {} {verdict}", path.display())?;
    Ok(ok)
}

async fn verify_db(
    db: &str,
    origin: &str,
    key: &VerifierKey,
    saved: Option<&(&PathBuf, Vec<u8>)>,
) -> anyhow::Result<u8> {
    let store = open(db).await?;
    let report = audit::verify(&store, origin, key).await?;
    // Written, not printed: a closed pipe (`| head`) ends the listing instead of panicking.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} entries, root {}, {} checkpoints verified",
        report.head.size, report.head.root, report.checkpoints
    )?;
    let mut ok = report.is_ok();
    if let Some((path, note)) = saved {
        let verdict = audit::check_consistency(&store, note, origin, key).await?;
        ok &= report_consistency(&mut out, path, &verdict)?;
    }
    if ok {
        writeln!(out, "ok: the log verifies")?;
        return Ok(exit::OK);
    }
    for p in &report.problems {
        if writeln!(out, "problem: {p}").is_err() {
            break;
        }
    }
    Ok(exit::FAILURE)
}

fn verify_dir(
    dir: &Path,
    origin: &str,
    key: &VerifierKey,
    saved: Option<&(&PathBuf, Vec<u8>)>,
) -> anyhow::Result<u8> {
    let report = audit::verify_dir(dir, origin, key)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    match (&report.anchor, &report.computed) {
        (Some(anchor), _) => writeln!(
            out,
            "export {}: anchor checkpoint size {}, root {}; {} tiles, {} of entries {}..{} checked, {} checkpoints verified",
            dir.display(),
            anchor.size,
            anchor.root,
            report.tiles,
            report.entries_checked,
            report.entries.start,
            report.entries.end,
            report.checkpoints
        )?,
        (None, _) => writeln!(out, "export {}: no valid anchor checkpoint", dir.display())?,
    }
    let mut ok = report.is_ok();
    if let Some((path, note)) = saved {
        let verdict = audit::check_consistency_dir(dir, note, origin, key)?;
        ok &= report_consistency(&mut out, path, &verdict)?;
    }
    for p in &report.problems {
        if writeln!(out, "problem: {p}").is_err() {
            break;
        }
    }
    if ok {
        writeln!(out, "ok: the export verifies")?;
        return Ok(exit::OK);
    }
    Ok(exit::FAILURE)
}

fn verify_proof(proof: &Path, entry: &Path, origin: &str, key: &VerifierKey) -> anyhow::Result<u8> {
    let text = read_file(proof, "proof")?;
    let bytes = read_file(entry, "entry")?;
    let mut out = std::io::stdout().lock();
    let verified = std::str::from_utf8(&text)
        .map_err(|_| ledger::ProofFileError::NotUtf8)
        .and_then(|text| ledger::verify_tlog_proof(text, &bytes, origin, key));
    match verified {
        Ok(proven) => {
            writeln!(
                out,
                "ok: entry {} is in the log `{origin}` of {} entries (root {}), checkpoint signed by `{}`",
                proven.index,
                proven.size,
                proven.root,
                key.name()
            )?;
            match Entry::from_canonical_bytes(&bytes) {
                Ok(e) => writeln!(
                    out,
                    "entry: {} {} by `{}` on `{}`: {}",
                    e.time,
                    e.kind.as_str(),
                    e.actor,
                    e.subject,
                    e.outcome.as_str()
                )?,
                Err(e) => eprintln!("warning: the entry bytes are not a canonical entry: {e}"),
            }
            Ok(exit::OK)
        }
        Err(e) => {
            writeln!(out, "problem: {}: {e}", proof.display())?;
            Ok(exit::FAILURE)
        }
    }
}

/// An entry range bound as given: an index, or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Index(u64),
    Micros(i64),
}

fn parse_bound(flag: &str, s: &str) -> anyhow::Result<Bound> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Bound::Index)
            .with_context(|| format!("{flag} `{s}` is too large"));
    }
    let instant = if let Ok(date) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        date.midnight().assume_utc()
    } else if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        t
    } else {
        bail!(
            "invalid {flag} `{s}`: expected an entry index, an RFC 3339 time like `2025-01-02T15:04:05Z` or a date like `2025-01-02`"
        );
    };
    let micros = instant.unix_timestamp_nanos() / 1000;
    Ok(Bound::Micros(i64::try_from(micros).unwrap_or(i64::MAX)))
}

async fn resolve(store: &Store, bound: Bound, size: u64) -> anyhow::Result<u64> {
    Ok(match bound {
        Bound::Index(i) => i,
        Bound::Micros(t) => audit::export::first_index_at(store, t, size).await?,
    })
}

pub(crate) fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let key = read_verifier(&args.key)?;
    let from = args
        .from
        .as_deref()
        .map(|s| parse_bound("--from", s))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|s| parse_bound("--to", s))
        .transpose()?;
    crate::runtime()?.block_on(async {
        let store = open(&args.db).await?;
        let size = store.ledger_head().await?.size;
        let from = match from {
            Some(b) => resolve(&store, b, size).await?,
            None => 0,
        };
        let to = match to {
            Some(b) => Some(resolve(&store, b, size).await?),
            None => None,
        };
        let summary = audit::export(
            &store,
            audit::ExportOptions {
                out_dir: args.out.clone(),
                origin: args.origin.clone(),
                key,
                from,
                to,
            },
        )
        .await
        .with_context(|| format!("cannot export to `{}`", args.out.display()))?;
        let entries = summary.entries.end - summary.entries.start;
        println!(
            "exported {} entries ({}..{}, {} entry bundles), {} tiles, {} checkpoints: {} files, {} bytes, to {}",
            entries,
            summary.entries.start,
            summary.entries.end,
            summary.entry_bundles,
            summary.tiles,
            summary.checkpoints,
            summary.files,
            summary.bytes,
            summary.dir.display()
        );
        println!(
            "anchor: checkpoint of size {}, root {} (base64 {})",
            summary.anchor.size,
            summary.anchor.root,
            summary.anchor.root.to_base64()
        );
        Ok(exit::OK)
    })
}

pub(crate) fn proof(args: ProofArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async {
        let store = open(&args.db).await?;
        let checkpoints = store.ledger_checkpoints().await?;
        let Some(newest) = checkpoints.last() else {
            bail!(
                "the log has no checkpoint yet: start the server (or wait for its first checkpoint)"
            );
        };
        let text = audit::tiles::tlog_proof(&store, args.index, newest)
            .await
            .with_context(|| {
                format!(
                    "cannot prove entry {} against the newest checkpoint (id {}, size {})",
                    args.index, newest.id, newest.size
                )
            })?;
        if let Some(path) = &args.entry_out {
            let row = store
                .ledger_entries(args.index, 1)
                .await?
                .into_iter()
                .find(|r| r.index == args.index)
                .with_context(|| format!("entry {} is missing", args.index))?;
            std::fs::write(path, &row.bytes)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        match &args.out {
            Some(path) => {
                std::fs::write(path, &text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                eprintln!(
                    "wrote the proof of entry {} against checkpoint {} (size {}) to {}",
                    args.index,
                    newest.id,
                    newest.size,
                    path.display()
                );
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
            }
        }
        Ok(exit::OK)
    })
}
