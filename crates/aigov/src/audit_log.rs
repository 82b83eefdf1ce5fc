//! `aigov audit log`: the audit ledger for humans. Filters by time, actor, kind (in the store)
//! and outcome (here), and prints an aligned table or one JSON object per line.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal as _, Write};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ledger::{Entry, EntryKind, Outcome};
use serde::Serialize;
use store::{LedgerSearch, LedgerStore, Store};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use crate::{StoreArgs, exit};

/// Indexes scanned per store call.
const PAGE: u64 = 16_384;
/// Scans over more entries than this show a progress bar (on a terminal).
const PROGRESS_MIN: u64 = 100_000;
/// Table rows buffered to size the columns before the rest are streamed.
const SIZING_ROWS: usize = 1000;

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// SQLite database file, or a `postgres://` URL (password from `PGPASSWORD`)
    /// [default: the server's database, from --config/--data-dir]
    #[arg(long, value_name = "PATH|URL", conflicts_with_all = ["config", "data_dir"])]
    db: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    /// Only entries at or after T: RFC 3339 (`2025-01-02T15:04:05Z`), a date (`2025-01-02`,
    /// midnight UTC) or an age before now (`30s`, `15m`, `2h`, `7d`, `2w`)
    #[arg(long, value_name = "T", value_parser = parse_time)]
    since: Option<OffsetDateTime>,
    /// Only entries before T (same forms as --since)
    #[arg(long, value_name = "T", value_parser = parse_time)]
    until: Option<OffsetDateTime>,
    /// Only entries by this actor (exact match)
    #[arg(long)]
    actor: Option<String>,
    /// Only entries of this kind (`policy_decision`, `break_glass`, ...); repeat for several
    #[arg(long = "kind", value_name = "KIND", value_parser = parse_kind)]
    kinds: Vec<EntryKind>,
    /// Only entries with this outcome
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,
    /// At most N entries: the first N matches, oldest first
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutcomeArg {
    Success,
    Failure,
}

impl OutcomeArg {
    fn matches(self, outcome: Outcome) -> bool {
        matches!(
            (self, outcome),
            (OutcomeArg::Success, Outcome::Success) | (OutcomeArg::Failure, Outcome::Failure)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Aligned columns for reading.
    Table,
    /// One JSON object per line, for `jq`.
    Json,
}

const TIME_FORMS: &str = "expected RFC 3339 (`2025-01-02T15:04:05Z`), a date (`2025-01-02`, \
                          midnight UTC) or an age before now (`30s`, `15m`, `2h`, `7d`, `2w`)";

/// `--since`/`--until`: RFC 3339, `YYYY-MM-DD` (midnight UTC) or an age before now.
fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    parse_time_at(s, OffsetDateTime::now_utc())
}

fn parse_time_at(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    let age = s
        .char_indices()
        .last()
        .and_then(|(i, unit)| {
            let n: i64 = s[..i].parse().ok().filter(|n| *n >= 0)?;
            let secs = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return None,
            };
            n.checked_mul(secs)
        })
        .ok_or_else(|| TIME_FORMS.to_owned())?;
    now.checked_sub(Duration::seconds(age))
        .ok_or_else(|| format!("`{s}` reaches back before the earliest time that can be shown"))
}

/// `--kind`: one of [`EntryKind::ALL`] (`-` is accepted for `_`).
fn parse_kind(s: &str) -> Result<EntryKind, String> {
    let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
    if let Some(kind) = EntryKind::ALL.into_iter().find(|k| k.as_str() == wanted) {
        return Ok(kind);
    }
    let names = EntryKind::ALL.map(|k| k.as_str());
    let hint = policy::closest(&wanted, names.iter().map(|n| (*n).to_owned()))
        .map(|best| format!("did you mean `{best}`? "))
        .unwrap_or_default();
    Err(format!(
        "unknown kind; {hint}valid kinds: {}",
        names.join(", ")
    ))
}

pub(crate) fn run(args: LogArgs) -> anyhow::Result<u8> {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        let show = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_else(|_| t.to_string());
        anyhow::bail!(
            "`--since` ({}) must be before `--until` ({})",
            show(since),
            show(until)
        );
    }
    let database = match &args.db {
        Some(db) => Database::Given(db.clone()),
        None => Database::Configured(load_config(&args.store)?),
    };
    crate::runtime()?.block_on(async {
        let store = database.open().await?;
        if let Database::Configured(config) = &database {
            record_access(config, &store, &args).await?;
        }
        list(&store, &args).await
    })
}

/// Reading the server's own audit trail is itself recorded (`audit_access`, PCI DSS
/// 10.2.1.3), before anything is shown. A copy opened with `--db` is not written to.
async fn record_access(
    config: &config::Config,
    store: &Store,
    args: &LogArgs,
) -> anyhow::Result<()> {
    let audit = crate::open_audit(config, store, false).await?;
    let kinds: Vec<&str> = args.kinds.iter().map(|k| k.as_str()).collect();
    let show = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
    let record = ::audit::Record::new(
        EntryKind::AuditAccess,
        "audit.log",
        crate::cli_actor(),
        "ledger",
        Outcome::Success,
    )
    .details(serde_json::json!({
        "since": show(args.since),
        "until": show(args.until),
        "actor": args.actor,
        "kinds": kinds,
        "limit": args.limit,
    }));
    let recorded = audit.record(record).await;
    audit
        .shutdown()
        .await
        .context("cannot finish the audit log")?;
    recorded.context("cannot record this read of the audit log")?;
    Ok(())
}

/// Where the listing reads from.
enum Database {
    /// `--db`: a SQLite path or a PostgreSQL URL.
    Given(String),
    /// The server's configured database.
    Configured(config::Config),
}

impl Database {
    /// Opens an existing database; a read-only listing never creates one.
    async fn open(&self) -> anyhow::Result<Store> {
        let missing = |path: &std::path::Path, hint: &str| {
            anyhow::anyhow!(
                "no database at `{}`: nothing has been logged there ({hint})",
                path.display()
            )
        };
        match self {
            Database::Given(db) => {
                let config = crate::audit::store_config(db);
                if let store::StoreConfig::Sqlite { path } = &config
                    && !path.exists()
                {
                    return Err(missing(path, "check the path"));
                }
                Store::open(&config)
                    .await
                    .with_context(|| format!("cannot open {config}"))
            }
            Database::Configured(config) => {
                if let config::Database::Sqlite { path } = &config.database
                    && !path.exists()
                {
                    return Err(missing(path, "check --data-dir or --config, or use --db"));
                }
                crate::open_store(config).await
            }
        }
    }
}

fn load_config(args: &StoreArgs) -> anyhow::Result<config::Config> {
    let config = config::load(&args.flags())?;
    // Only warnings and errors from the store: the listing is the point.
    crate::serve::init_logging(&config::LogConfig {
        level: "warn".to_owned(),
        format: config.log.format,
    })?;
    Ok(config)
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX)
}

/// Scans the log page by page and writes the matches; stops quietly when stdout is closed.
async fn list(store: &Store, args: &LogArgs) -> anyhow::Result<u8> {
    let size = store
        .ledger_head()
        .await
        .context("cannot read the ledger head")?
        .size;
    let since = args.since.map(micros);
    let until = args.until.map(micros);
    // With a time filter, scan only the index range holding entries of that time.
    let range = if since.is_some() || until.is_some() {
        store
            .ledger_time_span(since, until)
            .await
            .context("cannot search the ledger")?
            .map_or(0..0, |r| r.start.min(size)..r.end.min(size))
    } else {
        0..size
    };

    let mut out = Output::new(args.format);
    let mut progress = Progress::new(range.end - range.start > PROGRESS_MIN, size);
    let mut remaining = args.limit.map(u64::from);
    let mut shown = 0u64;
    let mut undecodable = 0u64;
    let mut next = range.start;
    let written = async {
        while next < range.end && remaining != Some(0) {
            let end = range.end.min(next + PAGE);
            let limit = remaining.map_or(0, |r| r.min(PAGE) as u32);
            let rows = store
                .ledger_search(LedgerSearch {
                    start: next,
                    end,
                    since_micros: since,
                    until_micros: until,
                    actor: args.actor.clone(),
                    kinds: args.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
                    limit,
                })
                .await
                .context("cannot search the ledger")?;
            // A full page under a limit may stop short of `end`: go on after its last row.
            next = match rows.last() {
                Some(last) if limit > 0 && rows.len() == limit as usize => last.index + 1,
                _ => end,
            };
            if !rows.is_empty() {
                progress.clear();
            }
            for row in rows {
                let entry = match Entry::from_canonical_bytes(&row.bytes) {
                    Ok(entry) => entry,
                    Err(e) => {
                        undecodable += 1;
                        if args.outcome.is_none() {
                            out.undecodable(row.index, &e.to_string())?;
                            shown += 1;
                            remaining = remaining.map(|r| r - 1);
                        }
                        continue;
                    }
                };
                if args.outcome.is_some_and(|o| !o.matches(entry.outcome)) {
                    continue;
                }
                out.entry(row.index, &entry)?;
                shown += 1;
                remaining = remaining.map(|r| r - 1);
            }
            out.flush_if_streaming()?;
            progress.show(next, shown);
        }
        out.finish()
    };
    let result: anyhow::Result<()> = written.await;
    progress.clear();
    match result {
        Ok(()) => {}
        Err(e) if is_broken_pipe(&e) => return Ok(exit::OK),
        Err(e) => return Err(e),
    }
    if shown == 0 && args.format == LogFormat::Table {
        eprintln!("no entries match (the log has {size} entries)");
    }
    if undecodable > 0 {
        eprintln!(
            "warning: {undecodable} entries could not be decoded; run `aigov audit verify` to check the log"
        );
    }
    Ok(exit::OK)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The entry as one JSON line: every key always present (`null` or empty when absent), so
/// `jq` filters never need to test for a key.
#[derive(Serialize)]
struct JsonEntry<'a> {
    index: u64,
    version: u32,
    time: String,
    kind: &'static str,
    actor: &'a str,
    subject: &'a str,
    outcome: &'static str,
    decision: Option<&'static str>,
    origin: JsonOrigin<'a>,
    payload_sha256: Option<String>,
    fields: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct JsonOrigin<'a> {
    host: Option<&'a str>,
    ip: Option<String>,
    replica: Option<&'a str>,
}

/// An entry that does not decode: its index and why.
#[derive(Serialize)]
struct JsonUndecodable<'a> {
    index: u64,
    error: &'a str,
}

fn json_entry(index: u64, e: &Entry) -> JsonEntry<'_> {
    JsonEntry {
        index,
        version: e.version,
        time: e.time.to_string(),
        kind: e.kind.as_str(),
        actor: &e.actor,
        subject: &e.subject,
        outcome: e.outcome.as_str(),
        decision: e.decision.map(|d| d.as_str()),
        origin: JsonOrigin {
            host: e.origin.host.as_deref(),
            ip: e.origin.ip.map(|ip| ip.to_string()),
            replica: e.origin.replica.as_deref(),
        },
        payload_sha256: e.payload_sha256.map(|h| h.to_hex()),
        fields: &e.fields,
    }
}

const COLUMNS: usize = 7;
const HEADER: [&str; COLUMNS] = [
    "INDEX", "TIME", "KIND", "ACTOR", "OUTCOME", "SUBJECT", "DECISION",
];
/// Widest a column gets; longer cells end in `…`.
const MAX_WIDTH: [usize; COLUMNS] = [20, 20, 20, 32, 7, 48, 8];
/// Narrowest a column is once rows are streamed (later rows may be wider than the first ones).
const STREAM_MIN_WIDTH: [usize; COLUMNS] = [8, 20, 17, 16, 7, 24, 8];

fn table_row(index: u64, e: &Entry) -> [String; COLUMNS] {
    let t = e.time.to_datetime();
    let time = t
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| e.time.to_string());
    [
        index.to_string(),
        time,
        e.kind.as_str().to_owned(),
        e.actor.clone(),
        e.outcome.as_str().to_owned(),
        e.subject.clone(),
        e.decision.map_or("-", |d| d.as_str()).to_owned(),
    ]
}

/// `cell` made printable (control characters escaped, so entry text cannot drive the
/// terminal) and cut to `width` characters, ending in `…` when cut.
fn fit(cell: &str, width: usize) -> String {
    let printable: String = if cell.chars().any(char::is_control) {
        cell.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        cell.to_owned()
    };
    if printable.chars().count() <= width {
        return printable;
    }
    let mut cut: String = printable.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Writes table rows or JSON lines to a locked stdout. A table buffers its first rows to
/// size the columns, then streams the rest with those widths.
struct Output {
    format: LogFormat,
    out: io::StdoutLock<'static>,
    pending: Vec<[String; COLUMNS]>,
    widths: Option<[usize; COLUMNS]>,
}

impl Output {
    fn new(format: LogFormat) -> Output {
        Output {
            format,
            out: io::stdout().lock(),
            pending: Vec::new(),
            widths: None,
        }
    }

    fn entry(&mut self, index: u64, e: &Entry) -> anyhow::Result<()> {
        match self.format {
            LogFormat::Json => self.json(&json_entry(index, e)),
            LogFormat::Table => self.row(table_row(index, e)),
        }
    }

    fn undecodable(&mut self, index: u64, error: &str) -> anyhow::Result<()> {
        match self.format {
            LogFormat::Json => self.json(&JsonUndecodable { index, error }),
            LogFormat::Table => {
                let mut row: [String; COLUMNS] = Default::default();
                row.fill("-".to_owned());
                row[0] = index.to_string();
                row[5] = format!("(undecodable: {error})");
                self.row(row)
            }
        }
    }

    fn json(&mut self, value: &impl Serialize) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::from)?;
        writeln!(self.out)?;
        Ok(())
    }

    fn row(&mut self, row: [String; COLUMNS]) -> anyhow::Result<()> {
        match self.widths {
            Some(widths) => self.write_row(&row, &widths),
            None => {
                self.pending.push(row);
                if self.pending.len() >= SIZING_ROWS {
                    self.size_columns(true)?;
                }
                Ok(())
            }
        }
    }

    /// Fixes the column widths from the buffered rows and writes the header and those rows.
    /// `streaming`: more rows may follow, so columns get at least their streaming width.
    fn size_columns(&mut self, streaming: bool) -> anyhow::Result<()> {
        let mut widths = [0; COLUMNS];
        for (i, w) in widths.iter_mut().enumerate() {
            let widest = self
                .pending
                .iter()
                .map(|r| fit(&r[i], MAX_WIDTH[i]).chars().count())
                .chain([HEADER[i].len()])
                .max()
                .unwrap_or(0);
            *w = if streaming {
                widest.max(STREAM_MIN_WIDTH[i]).min(MAX_WIDTH[i])
            } else {
                widest
            };
        }
        self.widths = Some(widths);
        self.write_row(&HEADER.map(str::to_owned), &widths)?;
        for row in std::mem::take(&mut self.pending) {
            self.write_row(&row, &widths)?;
        }
        Ok(())
    }

    fn write_row(
        &mut self,
        row: &[String; COLUMNS],
        widths: &[usize; COLUMNS],
    ) -> anyhow::Result<()> {
        let mut line = String::with_capacity(160);
        for (i, (cell, &w)) in row.iter().zip(widths).enumerate() {
            let cell = fit(cell, w);
            if i + 1 == COLUMNS {
                line.push_str(&cell);
            } else {
                // Right-align the index, left-align the rest.
                let pad = w - cell.chars().count();
                if i == 0 {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(&cell);
                } else {
                    line.push_str(&cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str("  ");
            }
        }
        writeln!(self.out, "{}", line.trim_end())?;
        Ok(())
    }

    /// Flushes what is written so far unless rows are still buffered for sizing, so output
    /// appears page by page (and a closed pipe is noticed early).
    fn flush_if_streaming(&mut self) -> anyhow::Result<()> {
        if self.format == LogFormat::Json || self.widths.is_some() {
            self.out.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.format == LogFormat::Table && self.widths.is_none() && !self.pending.is_empty() {
            self.size_columns(false)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal and the scan is long,
/// redrawn at most 10 times a second.
struct Progress {
    enabled: bool,
    size: u64,
    drawn: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(long_scan: bool, size: u64) -> Progress {
        Progress {
            enabled: long_scan && io::stderr().is_terminal(),
            size,
            drawn: false,
            last: None,
        }
    }

    /// Draws the bar if it was cleared, else at most every 100 ms.
    fn show(&mut self, next: u64, shown: u64) {
        if !self.enabled || (self.drawn && self.last.is_some_and(|t| t.elapsed().as_millis() < 100))
        {
            return;
        }
        self.last = Some(Instant::now());
        self.drawn = true;
        eprint!("\r\x1b[2K{}", progress_line(next, self.size, shown));
    }

    /// Erases the bar (before stdout is written to the same terminal).
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

fn progress_line(next: u64, size: u64, shown: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (next.min(size) * WIDTH).checked_div(size).unwrap_or(0);
    format!(
        "scanning [{}{}] {next}/{size} entries, {shown} shown",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let now = datetime!(2025-06-15 12:00:00 UTC);
        let at = |s| parse_time_at(s, now);
        assert_eq!(
            at("2025-01-02T03:04:05Z"),
            Ok(datetime!(2025-01-02 03:04:05 UTC))
        );
        assert_eq!(
            at("2025-01-02T05:04:05+02:00"),
            Ok(datetime!(2025-01-02 03:04:05 UTC))
        );
        assert_eq!(at("2025-01-02"), Ok(datetime!(2025-01-02 00:00:00 UTC)));
        assert_eq!(at("90s"), Ok(datetime!(2025-06-15 11:58:30 UTC)));
        assert_eq!(at("15m"), Ok(datetime!(2025-06-15 11:45:00 UTC)));
        assert_eq!(at("2h"), Ok(datetime!(2025-06-15 10:00:00 UTC)));
        assert_eq!(at("7d"), Ok(datetime!(2025-06-08 12:00:00 UTC)));
        assert_eq!(at("2w"), Ok(datetime!(2025-06-01 12:00:00 UTC)));
        for bad in ["yesterday", "7", "d", "-3d", "7y", "2025-13-01", ""] {
            assert_eq!(at(bad), Err(TIME_FORMS.to_owned()), "{bad}");
        }
        assert!(at("999999999999999999d").is_err());
    }

    #[test]
    fn kinds_by_name_with_a_hint_for_typos() {
        assert_eq!(parse_kind("break_glass"), Ok(EntryKind::BreakGlass));
        assert_eq!(parse_kind("Break-Glass"), Ok(EntryKind::BreakGlass));
        let err = parse_kind("polcy_decision").unwrap_err();
        assert!(
            err.starts_with("unknown kind; did you mean `policy_decision`? valid kinds: gateway_request, policy_decision,"),
            "{err}"
        );
        let err = parse_kind("zzz").unwrap_err();
        assert!(err.starts_with("unknown kind; valid kinds: "), "{err}");
    }

    #[test]
    fn cells_are_printable_and_cut_with_an_ellipsis() {
        assert_eq!(fit("alice", 8), "alice");
        assert_eq!(fit("repo:payments-api", 8), "repo:pa…");
        assert_eq!(fit("a\u{1b}[31mb\n", 20), "a\\u{1b}[31mb\\n");
    }

    #[test]
    fn progress_line_shows_position_in_the_log() {
        assert_eq!(
            progress_line(500_000, 1_000_000, 12),
            "scanning [###############---------------] 500000/1000000 entries, 12 shown"
        );
        assert_eq!(
            progress_line(0, 0, 0),
            "scanning [------------------------------] 0/0 entries, 0 shown"
        );
    }
}
