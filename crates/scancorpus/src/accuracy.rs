//! `scancorpus accuracy`: runs the scanner library over a corpus and scores its findings
//! against the labels: per family planted, found, TP, FP, precision, recall; unlabelled
//! findings in untouched carrier text reported apart; misses and false positives listed with
//! their context line (values masked).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::layout::{self, Area, Label, Manifest, Region};
use crate::values::{PII_FAMILIES, SECRET_FAMILIES};

/// A finding of the scanner, located.
#[derive(Debug, Clone, Serialize)]
pub struct Located {
    pub path: String,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub family: String,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Stats {
    pub family: String,
    pub kind: String,
    pub planted: usize,
    pub found: usize,
    pub tp: usize,
    pub fp: usize,
    pub precision: f64,
    pub recall: f64,
}

impl Stats {
    fn finish(&mut self) {
        self.recall = ratio(self.found, self.planted);
        self.precision = ratio(self.tp, self.tp + self.fp);
    }
}

/// `a / b`, and 1.0 when there is nothing to measure.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// A planted item the scanner did not find.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub path: String,
    pub line: usize,
    pub family: String,
    pub variant: String,
    pub context: String,
    /// Families of findings that overlapped it but were of another family.
    pub found_as: Vec<String>,
    /// The line, value masked.
    pub text: String,
}

/// A finding that matches no label of its family.
#[derive(Debug, Clone, Serialize)]
pub struct FalsePositive {
    pub path: String,
    pub line: usize,
    pub family: String,
    pub rule: String,
    /// `negatives/<kind>`, or the planted label family it overlapped, or `planted`.
    pub source: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CarrierReport {
    pub files: usize,
    pub bytes: u64,
    pub findings: usize,
    pub by_family: BTreeMap<String, usize>,
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub manifest: Option<Manifest>,
    pub files: usize,
    pub bytes: u64,
    pub scan_seconds: f64,
    pub families: Vec<Stats>,
    pub secrets: Stats,
    pub pii: Stats,
    pub carrier: CarrierReport,
    pub missed: Vec<Miss>,
    pub false_positives: Vec<FalsePositive>,
}

impl Report {
    /// Families below `min` precision or recall.
    pub fn failing(&self, min: f64) -> Vec<&Stats> {
        self.families
            .iter()
            .filter(|s| s.precision < min || s.recall < min)
            .collect()
    }
}

pub fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The scanner's findings in one file's bytes.
pub fn scan_bytes(scanner: &scanner::Scanner, rel: &str, bytes: &[u8]) -> Vec<Located> {
    let findings = scanner.scan(bytes);
    if findings.is_empty() {
        return Vec::new();
    }
    let starts = layout::line_starts(bytes);
    findings
        .iter()
        .map(|f| Located {
            path: rel.to_owned(),
            start: f.span.start,
            end: f.span.end,
            line: layout::line_of(&starts, f.span.start),
            family: (*f.family).to_owned(),
            rule: (*f.rule_id).to_owned(),
        })
        .collect()
}

/// The line holding `start`, with every byte of `start..end` on it masked, shortened to
/// about 160 characters around the value.
pub fn masked_line(bytes: &[u8], start: usize, end: usize) -> String {
    let ls = bytes[..start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let le = bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| start + i);
    let vend = end.min(le);
    let value = String::from_utf8_lossy(&bytes[start..end]);
    let keep: String = value
        .chars()
        .take((value.chars().count() / 5).min(4))
        .collect();
    let mask = format!("{keep}…[{} chars]", value.chars().count());
    let before = String::from_utf8_lossy(&bytes[ls..start]);
    let after = String::from_utf8_lossy(&bytes[vend..le]);
    let before: String = {
        let c: Vec<char> = before.chars().collect();
        let from = c.len().saturating_sub(80);
        (if from > 0 { "…" } else { "" }).to_owned() + &c[from..].iter().collect::<String>()
    };
    let after: String = {
        let c: Vec<char> = after.chars().collect();
        c.iter().take(60).collect::<String>() + if c.len() > 60 { "…" } else { "" }
    };
    format!("{before}{mask}{after}").trim().to_owned()
}

/// Scans every file of the corpus in `dir` with the built-in rules and scores the findings.
pub fn evaluate(dir: &Path) -> anyhow::Result<Report> {
    let labels: Vec<Label> = layout::read_jsonl(&dir.join(layout::LABELS))?;
    let regions: Vec<Region> = layout::read_jsonl(&dir.join(layout::REGIONS))?;
    let manifest: Option<Manifest> = std::fs::read_to_string(dir.join(layout::MANIFEST))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let scanner = scanner::Scanner::builtin();
    let mut by_path: BTreeMap<&str, Vec<&Label>> = BTreeMap::new();
    for l in &labels {
        by_path.entry(l.path.as_str()).or_default().push(l);
    }
    let mut regions_by_path: BTreeMap<&str, Vec<&Region>> = BTreeMap::new();
    for r in &regions {
        regions_by_path.entry(r.path.as_str()).or_default().push(r);
    }

    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    for (fams, kind) in [(SECRET_FAMILIES, "secret"), (PII_FAMILIES, "pii")] {
        for f in fams {
            stats.insert(
                (*f).to_owned(),
                Stats {
                    family: (*f).to_owned(),
                    kind: kind.to_owned(),
                    ..Stats::default()
                },
            );
        }
    }
    for l in &labels {
        if let Some(s) = stats.get_mut(&l.family) {
            s.planted += 1;
        }
    }
    let mut carrier = CarrierReport::default();
    let mut missed = Vec::new();
    let mut fps = Vec::new();
    let mut files = 0;
    let mut total = 0u64;
    let mut scan_time = 0.0;

    for rel in layout::walk(dir)? {
        let area = layout::area(&rel);
        if area == Area::Meta {
            continue;
        }
        let bytes = std::fs::read(dir.join(&rel))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join(&rel).display()))?;
        if bytes[..bytes.len().min(8192)].contains(&0) {
            continue;
        }
        files += 1;
        total += bytes.len() as u64;
        let t = Instant::now();
        let found = scan_bytes(&scanner, &rel, &bytes);
        scan_time += t.elapsed().as_secs_f64();
        let file_labels = by_path.get(rel.as_str()).cloned().unwrap_or_default();
        let file_regions = regions_by_path
            .get(rel.as_str())
            .cloned()
            .unwrap_or_default();
        if area == Area::Carrier {
            carrier.files += 1;
            carrier.bytes += bytes.len() as u64;
        }
        let mut hit = vec![false; file_labels.len()];
        let mut other: Vec<Vec<String>> = vec![Vec::new(); file_labels.len()];
        for f in &found {
            let scored = area != Area::Carrier
                || file_regions
                    .iter()
                    .any(|r| overlaps((f.start, f.end), (r.start, r.end)));
            if !scored {
                carrier.findings += 1;
                *carrier.by_family.entry(f.family.clone()).or_default() += 1;
                carrier.samples.push(format!(
                    "{}:{} {} ({})  {}",
                    f.path,
                    f.line,
                    f.family,
                    f.rule,
                    masked_line(&bytes, f.start, f.end)
                ));
                continue;
            }
            let mut matched = false;
            let mut overlapped = None;
            for (i, l) in file_labels.iter().enumerate() {
                if overlaps((f.start, f.end), (l.start, l.end)) {
                    if l.family == f.family {
                        hit[i] = true;
                        matched = true;
                    } else {
                        other[i].push(f.family.clone());
                        overlapped = Some(l.family.clone());
                    }
                }
            }
            let s = stats.entry(f.family.clone()).or_insert_with(|| Stats {
                family: f.family.clone(),
                kind: "other".to_owned(),
                ..Stats::default()
            });
            if matched {
                s.tp += 1;
            } else {
                s.fp += 1;
                let source = match (area, overlapped) {
                    (_, Some(fam)) => format!("overlaps planted {fam}"),
                    (Area::Negative, None) => rel.split('/').take(2).collect::<Vec<_>>().join("/"),
                    (Area::Carrier, None) => "carrier insertion".to_owned(),
                    _ => "planted file".to_owned(),
                };
                fps.push(FalsePositive {
                    path: f.path.clone(),
                    line: f.line,
                    family: f.family.clone(),
                    rule: f.rule.clone(),
                    source,
                    text: masked_line(&bytes, f.start, f.end),
                });
            }
        }
        for (i, l) in file_labels.iter().enumerate() {
            if hit[i] {
                if let Some(s) = stats.get_mut(&l.family) {
                    s.found += 1;
                }
            } else {
                let mut found_as = other[i].clone();
                found_as.sort();
                found_as.dedup();
                missed.push(Miss {
                    path: l.path.clone(),
                    line: l.line,
                    family: l.family.clone(),
                    variant: l.variant.clone(),
                    context: l.context.clone(),
                    found_as,
                    text: masked_line(&bytes, l.start, l.end),
                });
            }
        }
    }

    let mut families: Vec<Stats> = Vec::new();
    let mut secrets = Stats {
        family: "secrets total".to_owned(),
        kind: "secret".to_owned(),
        ..Stats::default()
    };
    let mut pii = Stats {
        family: "pii total".to_owned(),
        kind: "pii".to_owned(),
        ..Stats::default()
    };
    let order: Vec<&str> = SECRET_FAMILIES
        .iter()
        .chain(PII_FAMILIES)
        .copied()
        .collect();
    let mut rest: Vec<Stats> = Vec::new();
    for (name, mut s) in stats {
        s.finish();
        let total = if s.kind == "pii" {
            &mut pii
        } else {
            &mut secrets
        };
        total.planted += s.planted;
        total.found += s.found;
        total.tp += s.tp;
        total.fp += s.fp;
        if order.contains(&name.as_str()) {
            families.push(s);
        } else {
            rest.push(s);
        }
    }
    families.sort_by_key(|s| order.iter().position(|o| *o == s.family));
    families.extend(rest);
    secrets.finish();
    pii.finish();
    Ok(Report {
        manifest,
        files,
        bytes: total,
        scan_seconds: scan_time,
        families,
        secrets,
        pii,
        carrier,
        missed,
        false_positives: fps,
    })
}

fn row(s: &Stats) -> String {
    format!(
        "{:<22} {:<6} {:>8} {:>7} {:>7} {:>7} {:>6} {:>9}",
        s.family,
        s.kind,
        s.planted,
        s.found,
        format!("{:.3}", s.recall),
        s.tp,
        s.fp,
        format!("{:.3}", s.precision)
    )
}

/// The per-family table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "{:<22} {:<6} {:>8} {:>7} {:>7} {:>7} {:>6} {:>9}\n",
        "family", "kind", "planted", "found", "recall", "TP", "FP", "precision"
    );
    for s in &report.families {
        out.push_str(&row(s));
        out.push('\n');
    }
    out.push_str(&row(&report.secrets));
    out.push('\n');
    out.push_str(&row(&report.pii));
    out.push('\n');
    out
}

/// Counts of `key` over `items`, largest first.
fn tally<T>(items: &[T], key: impl Fn(&T) -> String) -> Vec<(String, usize)> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *m.entry(key(i)).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The full human report: table, carrier findings, misses and false positives grouped by
/// cause with up to `examples` examples each.
pub fn human(report: &Report, examples: usize) -> String {
    let mut out = String::new();
    if let Some(m) = &report.manifest {
        out.push_str(&format!(
            "corpus: seed {}, {} planted per family, {} labels; {} carrier files ({:.1} MB), {} planted files, {} negative files\n",
            m.seed, m.per_family, m.labels, m.carrier_files, m.carrier_bytes as f64 / 1e6, m.planted_files, m.negative_files
        ));
    }
    out.push_str(&format!(
        "scanned {} files, {:.1} MB in {:.2} s of scanning ({:.1} MB/s, one thread)\n\n",
        report.files,
        report.bytes as f64 / 1e6,
        report.scan_seconds,
        report.bytes as f64 / 1e6 / report.scan_seconds.max(1e-9)
    ));
    out.push_str(&table(report));
    let c = &report.carrier;
    out.push_str(&format!(
        "\ncarrier findings (unlabelled, untouched carrier text): {} in {} files, {:.1} MB\n",
        c.findings,
        c.files,
        c.bytes as f64 / 1e6
    ));
    for (family, n) in &c.by_family {
        out.push_str(&format!("  {family:<22} {n}, e.g.:\n"));
        // Up to `examples` per family, from different files.
        let mut files: Vec<&str> = Vec::new();
        for s in &c.samples {
            let (path, rest) = s.split_once(':').unwrap_or((s, ""));
            if rest.split(' ').nth(1) != Some(family.as_str()) || files.contains(&path) {
                continue;
            }
            files.push(path);
            out.push_str(&format!("    {s}\n"));
            if files.len() >= examples.max(1) {
                break;
            }
        }
    }
    if !report.missed.is_empty() {
        out.push_str(&format!(
            "\nmissed planted items: {}\n",
            report.missed.len()
        ));
        for (group, n) in tally(&report.missed, |m| {
            format!("{} / {} / {}", m.family, m.variant, m.context)
        }) {
            out.push_str(&format!("  {n:>5}  {group}\n"));
            for m in report
                .missed
                .iter()
                .filter(|m| format!("{} / {} / {}", m.family, m.variant, m.context) == group)
                .take(examples)
            {
                let also = if m.found_as.is_empty() {
                    String::new()
                } else {
                    format!(" [found as {}]", m.found_as.join(", "))
                };
                out.push_str(&format!(
                    "         {}:{}{also}  {}\n",
                    m.path, m.line, m.text
                ));
            }
        }
    }
    if !report.false_positives.is_empty() {
        out.push_str(&format!(
            "\nfalse positives: {}\n",
            report.false_positives.len()
        ));
        for (group, n) in tally(&report.false_positives, |f| {
            format!("{} ({}) in {}", f.family, f.rule, f.source)
        }) {
            out.push_str(&format!("  {n:>5}  {group}\n"));
            for f in report
                .false_positives
                .iter()
                .filter(|f| format!("{} ({}) in {}", f.family, f.rule, f.source) == group)
                .take(examples)
            {
                out.push_str(&format!("         {}:{}  {}\n", f.path, f.line, f.text));
            }
        }
    }
    out
}
