//! Carrier files: real source code (the Python standard library, Rust crates in the cargo
//! registry) copied into the corpus, or synthetic code where neither exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::prng::Rng;
use crate::values;

/// Where carriers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sources {
    /// Python standard library and cargo registry sources, whichever exist.
    Auto,
    /// Only the Python standard library (present on every machine of this kind).
    Python,
    /// Generated code only.
    Synthetic,
    /// These directories (`.py` and `.rs` files in them).
    Dirs(Vec<PathBuf>),
}

/// One carrier candidate: where it is, where it goes in the corpus, its size.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub source: PathBuf,
    pub dest: String,
    pub size: u64,
}

/// Files larger than this are skipped (generated tables; they would dominate a small corpus).
const MAX_CARRIER: u64 = 1 << 20;

pub fn python_stdlib() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig;print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_dir().then_some(p)
}

pub fn cargo_registry() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let p = home.join("registry").join("src");
    p.is_dir().then_some(p)
}

/// Files with extension `ext` under `root`, sorted, skipping `skip` directory names and
/// symlinks.
fn files(root: &Path, ext: &str, skip: &[&str], out: &mut Vec<(PathBuf, String, u64)>) {
    fn go(
        root: &Path,
        dir: &Path,
        ext: &str,
        skip: &[&str],
        out: &mut Vec<(PathBuf, String, u64)>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(ty) = e.file_type() else { continue };
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if ty.is_dir() {
                if !skip.contains(&name.as_str()) {
                    go(root, &path, ext, skip, out);
                }
            } else if ty.is_file() && path.extension().is_some_and(|x| x == ext) {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                if size > 0 && size <= MAX_CARRIER {
                    let rel: Vec<String> = path
                        .strip_prefix(root)
                        .expect("under root")
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push((path, rel.join("/"), size));
                }
            }
        }
    }
    go(root, root, ext, skip, out);
}

/// Every candidate carrier from `sources`, sorted by destination path, and a description of
/// the sources used.
pub fn candidates(sources: &Sources) -> (Vec<Candidate>, Vec<String>) {
    let mut out = Vec::new();
    let mut used = Vec::new();
    let mut add =
        |root: &Path, ext: &str, prefix: &str, skip: &[&str], out: &mut Vec<Candidate>| {
            let mut found = Vec::new();
            files(root, ext, skip, &mut found);
            used.push(format!("{} ({} .{ext} files)", root.display(), found.len()));
            out.extend(found.into_iter().map(|(source, rel, size)| Candidate {
                source,
                dest: format!("{}/{prefix}/{rel}", crate::layout::CARRIER_DIR),
                size,
            }));
        };
    let skip_py = ["site-packages", "__pycache__", "dist-packages"];
    match sources {
        Sources::Synthetic => {}
        Sources::Python | Sources::Auto => {
            if let Some(p) = python_stdlib() {
                add(&p, "py", "python", &skip_py, &mut out);
            }
            if *sources == Sources::Auto
                && let Some(r) = cargo_registry()
            {
                add(&r, "rs", "rust", &["target", ".git"], &mut out);
            }
        }
        Sources::Dirs(dirs) => {
            for (i, d) in dirs.iter().enumerate() {
                add(d, "py", &format!("dir{i}"), &skip_py, &mut out);
                add(d, "rs", &format!("dir{i}"), &["target", ".git"], &mut out);
            }
        }
    }
    out.sort_by(|a, b| a.dest.cmp(&b.dest));
    out.dedup_by(|a, b| a.dest == b.dest);
    (out, used)
}

/// Picks carriers in a seeded order until `target` bytes.
pub fn select(rng: &mut Rng, mut all: Vec<Candidate>, target: u64) -> Vec<Candidate> {
    rng.shuffle(&mut all);
    let mut total = 0;
    let mut out = Vec::new();
    for c in all {
        if total >= target {
            break;
        }
        total += c.size;
        out.push(c);
    }
    out.sort_by(|a, b| a.dest.cmp(&b.dest));
    out
}

/// A synthetic Python module of about `size` bytes: functions, docstrings, loops; nothing a
/// scanner should flag.
pub fn synthetic_module(rng: &mut Rng, size: usize) -> String {
    let mut t = format!(
        "\"\"\"Helpers for {} {}.\"\"\"\n\nimport collections\nimport itertools\n\n",
        values::word(rng),
        values::word(rng)
    );
    while t.len() < size {
        let f = format!("{}_{}", values::lower_ident(rng, 5), values::word(rng));
        let a = values::lower_ident(rng, 4);
        let attr = values::word(rng);
        let n = rng.range(1, 500);
        t.push_str(&format!(
            "\ndef {f}({a}, limit={n}):\n    \"\"\"Return the {attr} entries of {a} above the limit.\"\"\"\n    result = []\n    for item in itertools.islice({a}, limit):\n        if getattr(item, \"{attr}\", 0) > {}:\n            result.append(item)\n    counts = collections.Counter(r.{attr} for r in result)\n    return sorted(counts.items())\n\n",
            n / 3
        ));
    }
    t
}
