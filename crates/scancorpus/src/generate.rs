//! `scancorpus generate`: builds a corpus directory from a seed: carriers, planted secrets and
//! personal data with exact labels, hard negatives, and a manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::carriers::{self, Sources};
use crate::contexts::{self, FileKind, Item};
use crate::layout::{self, Doc, Label, Manifest, Region};
use crate::prng::Rng;
use crate::values::{self, Value};
use crate::{negatives, pii};

pub const GENERATOR: &str = concat!("scancorpus ", env!("CARGO_PKG_VERSION"), " corpus v1");

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Total corpus size in MB (10^6 bytes), carriers included.
    pub mb: f64,
    /// Planted items per family; by default `max(50, 6 × mb)`.
    pub per_family: Option<usize>,
    pub carriers: Sources,
    /// Replace an existing corpus (a directory holding `corpus.json`).
    pub force: bool,
}

impl Options {
    pub fn per_family(&self) -> usize {
        self.per_family
            .unwrap_or_else(|| ((self.mb * 6.0).round() as usize).max(50))
    }
}

/// Share of Python/Rust-context secrets written into real carrier files instead.
const IN_CARRIER_PERCENT: u64 = 30;

fn prepare_dir(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
        if entries.next().is_some() {
            if !out.join(layout::MANIFEST).is_file() {
                bail!(
                    "{} exists and is not empty, and holds no {}: refusing to write a corpus into it",
                    out.display(),
                    layout::MANIFEST
                );
            }
            if !force {
                bail!(
                    "{} already holds a corpus; pass --force to replace it",
                    out.display()
                );
            }
            std::fs::remove_dir_all(out)
                .with_context(|| format!("cannot remove the old corpus in {}", out.display()))?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
}

/// A file to write: relative path, bytes, the marks in it.
struct Pending {
    rel: String,
    doc: Doc,
}

/// Generates the corpus into `out` and returns its manifest.
pub fn generate(out: &Path, opts: &Options) -> anyhow::Result<Manifest> {
    if opts.mb.is_nan() || opts.mb <= 0.0 {
        bail!("--mb must be positive, got {}", opts.mb);
    }
    prepare_dir(out, opts.force)?;
    let root = Rng::new(opts.seed);
    let per_family = opts.per_family();

    // Secrets, each with the kind of file it goes into.
    let mut by_kind: BTreeMap<FileKind, Vec<Item>> = BTreeMap::new();
    let mut for_carriers: Vec<(&'static str, Item)> = Vec::new();
    let mut place = root.fork("placement");
    for &family in values::SECRET_FAMILIES {
        let mut r = root.fork(family);
        for _ in 0..per_family {
            let value = if family == "connection-string" {
                Value {
                    text: values::url_password(&mut r),
                    variant: "url",
                }
            } else {
                values::secret(&mut r, family)
            };
            let kind = r.weighted(contexts::kinds_for(family));
            let item = Item { family, value };
            match kind {
                FileKind::Py if place.percent(IN_CARRIER_PERCENT) => {
                    for_carriers.push(("py", item))
                }
                FileKind::Rs if place.percent(IN_CARRIER_PERCENT) => {
                    for_carriers.push(("rs", item))
                }
                _ => by_kind.entry(kind).or_default().push(item),
            }
        }
    }

    let mut files: Vec<Pending> = Vec::new();
    let mut r = root.fork("planted-files");
    let mut project = 0usize;
    let next_dir = |project: &mut usize| {
        *project += 1;
        format!("{}/p{:04}", layout::PLANTED_DIR, project)
    };

    // Carriers first, to know which items find a host.
    let (all, carrier_sources) = carriers::candidates(&opts.carriers);
    let target_total = (opts.mb * 1e6) as u64;

    // Planted secret files (items left without a carrier host join them below).
    let mut carrier_rng = root.fork("carriers");
    let mut hosts_needed: Vec<(&'static str, Item)> = for_carriers;
    carrier_rng.shuffle(&mut hosts_needed);

    // Personal data.
    let mut q = pii::Queues::new(&mut root.fork("pii-values"), per_family);
    let mut pr = root.fork("pii-files");
    let mut pii_files: Vec<Pending> = Vec::new();
    while !q.is_empty() {
        if let Some((name, doc)) = pii::next_file(&mut pr, &mut q) {
            pii_files.push(Pending {
                rel: format!("{}/{name}", next_dir(&mut project)),
                doc,
            });
        }
    }

    // Negatives.
    let mut nr = root.fork("negatives");
    let per_kind = (per_family / 20).max(4);
    let mut negative_files: Vec<(String, String)> = Vec::new();
    for kind in negatives::KINDS {
        for i in 0..per_kind {
            let (name, text) = negatives::file(&mut nr, kind, i);
            negative_files.push((
                format!("{}/{kind}/n{i:03}/{name}", layout::NEGATIVE_DIR),
                text,
            ));
        }
    }

    // Choose carriers to fill what the generated files leave of the target size.
    let estimate_planted: u64 = by_kind
        .values()
        .flatten()
        .chain(hosts_needed.iter().map(|(_, i)| i))
        .map(|i| i.value.text.len() as u64 + 120)
        .sum::<u64>()
        + pii_files
            .iter()
            .map(|p| p.doc.text.len() as u64)
            .sum::<u64>()
        + negative_files
            .iter()
            .map(|(_, t)| t.len() as u64)
            .sum::<u64>();
    let carrier_target = target_total.saturating_sub(estimate_planted);
    let mut chosen = carriers::select(&mut carrier_rng, all, carrier_target);
    let mut synthetic: Vec<(String, String)> = Vec::new();
    let mut have: u64 = chosen.iter().map(|c| c.size).sum();
    let mut sr = root.fork("synthetic-carriers");
    while have < carrier_target {
        let size = sr.range(8_000, 40_000);
        let text = carriers::synthetic_module(&mut sr, size);
        have += text.len() as u64;
        synthetic.push((
            format!(
                "{}/synthetic/mod_{:05}.py",
                layout::CARRIER_DIR,
                synthetic.len()
            ),
            text,
        ));
    }

    // Insert carrier items: one per host file of the right language.
    let mut labels: Vec<Label> = Vec::new();
    let mut regions: Vec<Region> = Vec::new();
    let mut carrier_bytes = 0u64;
    let mut hosts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in chosen.iter().enumerate() {
        let ext = if c.dest.ends_with(".py") { "py" } else { "rs" };
        hosts.entry(ext).or_default().push(i);
    }
    let mut synthetic_hosts: Vec<usize> = (0..synthetic.len()).collect();
    for list in hosts.values_mut() {
        carrier_rng.shuffle(list);
    }
    carrier_rng.shuffle(&mut synthetic_hosts);
    let mut inserts: BTreeMap<String, (usize, Doc)> = BTreeMap::new();
    let mut leftovers: Vec<(FileKind, Item)> = Vec::new();
    for (ext, item) in hosts_needed {
        let host = match hosts.get_mut(ext).and_then(Vec::pop) {
            Some(i) => Some(chosen[i].dest.clone()),
            None if ext == "py" => synthetic_hosts.pop().map(|i| synthetic[i].0.clone()),
            None => None,
        };
        match host {
            Some(dest) => {
                let mut doc = Doc::new();
                contexts::render_in_carrier(&mut carrier_rng, &mut doc, ext, &item);
                inserts.insert(dest, (carrier_rng.next_u64() as usize, doc));
            }
            None => leftovers.push((
                if ext == "py" {
                    FileKind::Py
                } else {
                    FileKind::Rs
                },
                item,
            )),
        }
    }
    for (kind, item) in leftovers {
        by_kind.entry(kind).or_default().push(item);
    }

    // Planted secret files.
    for (kind, mut items) in by_kind {
        r.shuffle(&mut items);
        let mut rest = &items[..];
        while !rest.is_empty() {
            let take = match kind {
                FileKind::Pem => 1,
                FileKind::AwsIni | FileKind::Pypirc => r.range(1, 3),
                _ => r.range(1, 6),
            }
            .min(rest.len());
            let (now, later) = rest.split_at(take);
            rest = later;
            let mut doc = Doc::new();
            for h in contexts::header(&mut r, kind) {
                doc.line(&h);
            }
            for item in now {
                if kind == FileKind::AwsIni && doc.text.len() > 30 {
                    doc.line("");
                    doc.line(&format!("[profile {}]", values::word(&mut r)));
                }
                if kind == FileKind::HttpLog {
                    doc.line(&format!(
                        "{} INFO  GET /api/{} 200 {}ms",
                        contexts::timestamp(&mut r),
                        values::word(&mut r),
                        r.range(2, 900)
                    ));
                }
                contexts::render(&mut r, &mut doc, kind, item);
                if let Some(f) = contexts::filler(&mut r, kind) {
                    doc.line(&f);
                }
            }
            for f in contexts::footer(kind) {
                doc.line(f);
            }
            let name = contexts::file_name(&mut r, kind);
            files.push(Pending {
                rel: format!("{}/{name}", next_dir(&mut project)),
                doc,
            });
        }
    }
    files.extend(pii_files);

    // Write everything.
    let mut planted_bytes = 0u64;
    for p in &files {
        let bytes = p.doc.text.as_bytes();
        layout::write_file(out, &p.rel, bytes)?;
        labels.extend(layout::labels_for(&p.rel, bytes, &p.doc.marks, 0));
        planted_bytes += bytes.len() as u64;
    }
    let mut negative_bytes = 0u64;
    for (rel, text) in &negative_files {
        layout::write_file(out, rel, text.as_bytes())?;
        negative_bytes += text.len() as u64;
    }
    let carrier_list: Vec<(String, CarrierText)> = chosen
        .drain(..)
        .map(|c| (c.dest, CarrierText::File(c.source)))
        .chain(
            synthetic
                .into_iter()
                .map(|(d, t)| (d, CarrierText::Text(t))),
        )
        .collect();
    let carrier_files = carrier_list.len();
    for (dest, source) in carrier_list {
        let mut bytes = match source {
            CarrierText::File(p) => {
                std::fs::read(&p).with_context(|| format!("cannot read carrier {}", p.display()))?
            }
            CarrierText::Text(t) => t.into_bytes(),
        };
        if let Some((pick, doc)) = inserts.remove(&dest) {
            let ext = if dest.ends_with(".py") { "py" } else { "rs" };
            let at = insertion_point(&bytes, ext, pick);
            let mut spliced = Vec::with_capacity(bytes.len() + doc.text.len());
            spliced.extend_from_slice(&bytes[..at]);
            spliced.extend_from_slice(doc.text.as_bytes());
            spliced.extend_from_slice(&bytes[at..]);
            bytes = spliced;
            labels.extend(layout::labels_for(&dest, &bytes, &doc.marks, at));
            let starts = layout::line_starts(&bytes);
            let end = at + doc.text.len();
            regions.push(Region {
                path: dest.clone(),
                start: at,
                end,
                line: layout::line_of(&starts, at),
                end_line: layout::line_of(&starts, end - 1),
            });
        }
        carrier_bytes += bytes.len() as u64;
        layout::write_file(out, &dest, &bytes)?;
    }
    assert!(inserts.is_empty(), "every insertion found its carrier");

    labels.sort_by(|a, b| (&a.path, a.start).cmp(&(&b.path, b.start)));
    regions.sort_by(|a, b| (&a.path, a.start).cmp(&(&b.path, b.start)));
    layout::write_jsonl(&out.join(layout::LABELS), &labels)?;
    layout::write_jsonl(&out.join(layout::REGIONS), &regions)?;
    let manifest = Manifest {
        generator: GENERATOR.to_owned(),
        seed: opts.seed,
        mb: opts.mb,
        per_family,
        carrier_sources: if carrier_sources.is_empty() {
            vec!["synthetic".to_owned()]
        } else {
            carrier_sources
        },
        carrier_files,
        carrier_bytes,
        planted_files: files.len(),
        planted_bytes,
        negative_files: negative_files.len(),
        negative_bytes,
        labels: labels.len(),
        total_bytes: carrier_bytes + planted_bytes + negative_bytes,
    };
    std::fs::write(
        out.join(layout::MANIFEST),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .with_context(|| format!("cannot write {}", out.join(layout::MANIFEST).display()))?;
    Ok(manifest)
}

enum CarrierText {
    File(PathBuf),
    Text(String),
}

/// A byte offset at the start of a top-level statement that follows a blank line (`pick`
/// chooses among them), or the end of the file.
fn insertion_point(bytes: &[u8], ext: &str, pick: usize) -> usize {
    let starts: &[&[u8]] = if ext == "py" {
        &[b"def ", b"class ", b"import ", b"from ", b"@"]
    } else {
        &[
            b"fn ", b"pub ", b"use ", b"impl", b"#[", b"struct ", b"const ", b"mod ",
        ]
    };
    let mut candidates = Vec::new();
    let mut i = 0;
    while let Some(off) = bytes[i..].windows(2).position(|w| w == b"\n\n") {
        let at = i + off + 2;
        if starts.iter().any(|s| bytes[at..].starts_with(s)) {
            candidates.push(at);
        }
        i = at - 1;
        if i + 2 >= bytes.len() {
            break;
        }
    }
    if candidates.is_empty() {
        // At the end; a last line without a newline is ended by the inserted text, which
        // starts with a blank line.
        return bytes.len();
    }
    candidates[pick % candidates.len()]
}
