//! The corpus on disk: where carriers, planted and negative files live, the label and region
//! records, the manifest, and the `Doc` builder that records exact label spans while writing.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub const LABELS: &str = "labels.jsonl";
pub const REGIONS: &str = "regions.jsonl";
pub const MANIFEST: &str = "corpus.json";
/// Untouched (or, within `regions.jsonl`, touched) real source files.
pub const CARRIER_DIR: &str = "src";
pub const PLANTED_DIR: &str = "planted";
pub const NEGATIVE_DIR: &str = "negatives";

/// One planted secret or personal datum. `start..end` is the byte span of the value only;
/// `line..=end_line` the 1-based lines it covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Label {
    pub path: String,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub end_line: usize,
    pub family: String,
    /// `secret` or `pii`.
    pub kind: String,
    /// Format variant (`ghp`, `glpat-routable`, `grouped`…).
    pub variant: String,
    /// Where it was written (`env:unquoted`, `yaml:block`, `carrier:py`…).
    pub context: String,
}

/// Bytes inserted into a carrier file: findings there are scored, the rest of the file is
/// unlabelled carrier text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Region {
    pub path: String,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub end_line: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub generator: String,
    pub seed: u64,
    pub mb: f64,
    pub per_family: usize,
    pub carrier_sources: Vec<String>,
    pub carrier_files: usize,
    pub carrier_bytes: u64,
    pub planted_files: usize,
    pub planted_bytes: u64,
    pub negative_files: usize,
    pub negative_bytes: u64,
    pub labels: usize,
    pub total_bytes: u64,
}

/// What part of the corpus a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Carrier,
    Planted,
    Negative,
    /// The corpus's own records (labels, manifest).
    Meta,
}

pub fn area(path: &str) -> Area {
    match path.split('/').next() {
        Some(CARRIER_DIR) => Area::Carrier,
        Some(PLANTED_DIR) => Area::Planted,
        Some(NEGATIVE_DIR) => Area::Negative,
        _ => Area::Meta,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Pii,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Pii => "pii",
        }
    }
}

/// A marked value inside a [`Doc`].
#[derive(Debug, Clone)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
    pub family: &'static str,
    pub kind: Kind,
    pub variant: &'static str,
    pub context: String,
    pub value: String,
}

/// File text under construction, with the exact spans of the values written into it.
#[derive(Debug, Default, Clone)]
pub struct Doc {
    pub text: String,
    pub marks: Vec<Mark>,
}

impl Doc {
    pub fn new() -> Doc {
        Doc::default()
    }

    pub fn put(&mut self, s: &str) -> &mut Doc {
        self.text.push_str(s);
        self
    }

    pub fn line(&mut self, s: &str) -> &mut Doc {
        self.text.push_str(s);
        self.text.push('\n');
        self
    }

    /// Appends `value` and records its span.
    pub fn mark(
        &mut self,
        value: &str,
        family: &'static str,
        kind: Kind,
        variant: &'static str,
        context: &str,
    ) -> &mut Doc {
        let start = self.text.len();
        self.text.push_str(value);
        self.marks.push(Mark {
            start,
            end: self.text.len(),
            family,
            kind,
            variant,
            context: context.to_owned(),
            value: value.to_owned(),
        });
        self
    }

    /// Appends another document (its marks shifted).
    pub fn append(&mut self, other: Doc) {
        let off = self.text.len();
        self.text.push_str(&other.text);
        self.marks.extend(other.marks.into_iter().map(|mut m| {
            m.start += off;
            m.end += off;
            m
        }));
    }
}

/// 1-based line of byte `pos`, given the offsets of line starts.
pub fn line_of(line_starts: &[usize], pos: usize) -> usize {
    line_starts.partition_point(|&s| s <= pos)
}

pub fn line_starts(text: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect()
}

/// Labels for `marks` within `bytes` (written at `rel`), checking every span holds its value.
pub fn labels_for(rel: &str, bytes: &[u8], marks: &[Mark], shift: usize) -> Vec<Label> {
    let starts = line_starts(bytes);
    marks
        .iter()
        .map(|m| {
            let (start, end) = (m.start + shift, m.end + shift);
            assert_eq!(
                &bytes[start..end],
                m.value.as_bytes(),
                "label span of {} in {rel} does not hold its value",
                m.family
            );
            Label {
                path: rel.to_owned(),
                start,
                end,
                line: line_of(&starts, start),
                end_line: line_of(&starts, end.saturating_sub(1).max(start)),
                family: m.family.to_owned(),
                kind: m.kind.as_str().to_owned(),
                variant: m.variant.to_owned(),
                context: m.context.clone(),
            }
        })
        .collect()
}

pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    let mut out = String::new();
    for item in items {
        out.push_str(&serde_json::to_string(item)?);
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (is this a corpus directory made by `scancorpus generate`?)",
            path.display()
        )
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a valid record", path.display(), i + 1))
        })
        .collect()
}

/// Every file under `root`, as sorted `/`-separated relative paths.
pub fn walk(root: &Path) -> anyhow::Result<Vec<String>> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let ty = entry.file_type()?;
            let path = entry.path();
            if ty.is_dir() {
                go(root, &path, out)?;
            } else if ty.is_file() {
                let rel = path.strip_prefix(root).expect("under root");
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(root, root, &mut out)?;
    out.sort();
    Ok(out)
}
