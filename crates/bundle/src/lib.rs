//! The governance bundle: reads inventory YAML, Backstage catalog files, Cedar policies and
//! policy tests from a directory, validates them together and runs the policy tests.
//!
//! Layout of a bundle:
//! - `inventory/**/*.yaml` — aigov inventory files (`teams:`, `people:`, `applications:`,
//!   `tools:`, `models:`, `vendors:`) and Backstage `catalog-info.yaml` documents;
//! - `policy/**/*.cedar` — Cedar policies, each with `@id` and `@reason`;
//! - `policy/**/*.cedarschema` — optional extensions of aigov's Cedar schema;
//! - `policy/tests/**/*.yaml` — policy test cases;
//! - `scanning/rules.toml` — optional gitleaks-format secret rules (and files it extends);
//! - `scanning/*.yaml` — optional allowlists scoped to paths and repositories;
//! - `retention.yaml` — optional data-retention policy for prompt and response content;
//! - `handling.yaml` — optional data handling of secrets and personal data in prompts;
//! - `budgets.yaml` — optional budgets and rate limits for the AI gateway;
//! - `change.yaml` — optional change-management settings for the merge and deploy gates.

pub mod budgets;
mod cases;
pub mod change;
pub mod example;
pub mod handling;
mod inventory;
pub mod retention;
pub mod scanning;
mod yaml;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use model::{Decision, DecisionRequest, Diagnostic, Inventory, Location, Outcome};
use policy::{Engine, PolicySource, SchemaSource};
use sha2::{Digest, Sha256};

pub use inventory::{
    ANNOTATION_CLASSIFICATION, ANNOTATION_COMPLIANCE, ANNOTATION_ENVIRONMENTS,
    ANNOTATION_REPOSITORY,
};

/// A loaded, valid bundle.
#[derive(Debug)]
pub struct Bundle {
    pub root: PathBuf,
    pub inventory: Inventory,
    pub engine: Engine,
    pub tests: Vec<PolicyTest>,
    /// Non-fatal findings (e.g. a Backstage component without a classification).
    pub warnings: Vec<Diagnostic>,
    /// SHA-256 over every file's path and content, hex; identifies the bundle version.
    pub digest: String,
    /// The content scanner with the bundle's rules and allowlists.
    pub scanner: std::sync::Arc<scanner::Scanner>,
    /// What is kept of prompt and response content (digests only unless `retention.yaml`
    /// says otherwise).
    pub retention: model::Retention,
    /// What the gateway does with secrets and personal data in prompts (everything passes to
    /// the policy unless `handling.yaml` says otherwise).
    pub handling: model::Handling,
    /// Budgets and rate limits the gateway enforces (none without `budgets.yaml`).
    pub budgets: model::Budgets,
    /// What the merge and deploy gates look for (defaults without `change.yaml`).
    pub change: model::ChangeManagement,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read bundle at `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bundle has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}

/// One policy test case from `policy/tests/*.yaml`.
#[derive(Debug, Clone)]
pub struct PolicyTest {
    pub name: String,
    pub location: Location,
    pub request: DecisionRequest,
    pub expect: Outcome,
    /// Expected determining policy ids (order-insensitive); `None` means not checked.
    pub determining: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub location: Location,
    pub decision: Decision,
    /// `None` when the case passed; otherwise what differed.
    pub failure: Option<String>,
}

/// A bundle file: path relative to the root (with `/`), and its text.
struct File {
    rel: String,
    text: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Inventory,
    Policy,
    Schema,
    Test,
    Scanning,
    Retention,
    Handling,
    Budgets,
    Change,
}

fn kind_of(rel: &str) -> Option<Kind> {
    let yaml = rel.ends_with(".yaml") || rel.ends_with(".yml");
    if rel.starts_with("inventory/") && yaml {
        Some(Kind::Inventory)
    } else if rel.starts_with("policy/tests/") && yaml {
        Some(Kind::Test)
    } else if rel.starts_with("policy/") && rel.ends_with(".cedar") {
        Some(Kind::Policy)
    } else if rel.starts_with("policy/") && rel.ends_with(".cedarschema") {
        Some(Kind::Schema)
    } else if rel.starts_with("scanning/") && (yaml || rel.ends_with(".toml")) {
        Some(Kind::Scanning)
    } else if rel == retention::RETENTION_FILE {
        Some(Kind::Retention)
    } else if rel == handling::HANDLING_FILE {
        Some(Kind::Handling)
    } else if rel == budgets::BUDGETS_FILE {
        Some(Kind::Budgets)
    } else if rel == change::CHANGE_FILE {
        Some(Kind::Change)
    } else {
        None
    }
}

/// Every bundle file under `root`, sorted by path. Hidden files and directories are skipped.
fn walk(root: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LoadError::Io { path, source }
    };
    let meta = std::fs::metadata(root).map_err(io(root))?;
    if !meta.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(LoadError::Io {
            path: root.to_owned(),
            source,
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().map_err(io(&path))?.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if kind_of(&rel).is_some() {
                    out.push((rel, path));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads and validates a bundle. All problems are reported at once, sorted by file and line.
pub fn load(root: &Path) -> Result<Bundle, LoadError> {
    let mut files = Vec::new();
    for (rel, path) in walk(root)? {
        let text =
            std::fs::read_to_string(&path).map_err(|source| LoadError::Io { path, source })?;
        files.push(File { rel, text });
    }
    let digest = {
        let mut h = Sha256::new();
        for f in &files {
            h.update((f.rel.len() as u64).to_le_bytes());
            h.update(f.rel.as_bytes());
            h.update((f.text.len() as u64).to_le_bytes());
            h.update(f.text.as_bytes());
        }
        hex::encode(h.finalize())
    };
    let mut diags = Vec::new();
    for (dir, what) in [
        (
            "inventory",
            "teams, people, applications, tools, models and vendors",
        ),
        ("policy", "Cedar policies"),
    ] {
        if !files.iter().any(|f| f.rel.starts_with(&format!("{dir}/"))) {
            diags.push(
                Diagnostic::error(
                    "missing-directory",
                    Location::file(format!("{dir}/")),
                    format!("bundle has no files under `{dir}/`"),
                )
                .with_hint(format!(
                    "`{dir}/` holds the {what}; see examples/governance for a complete bundle"
                )),
            );
        }
    }

    let mut reader = inventory::Reader::default();
    let mut policies = Vec::new();
    let mut schemas = Vec::new();
    let mut tests = Vec::new();
    let mut retention = Some(model::Retention::default());
    let mut handling = Some(model::Handling::default());
    let mut budgets = Some(model::Budgets::default());
    let mut change = Some(model::ChangeManagement::default());
    let mut budget_refs = Vec::new();
    for f in &files {
        let yaml = yaml::YamlFile {
            path: &f.rel,
            text: &f.text,
        };
        match kind_of(&f.rel) {
            Some(Kind::Inventory) => reader.read(&yaml),
            Some(Kind::Test) => cases::parse(&yaml, &mut tests, &mut diags),
            Some(Kind::Policy) => policies.push(PolicySource {
                path: f.rel.clone(),
                text: f.text.clone(),
            }),
            Some(Kind::Schema) => schemas.push(SchemaSource {
                path: f.rel.clone(),
                text: f.text.clone(),
            }),
            Some(Kind::Retention) => retention = retention::read(&yaml, &mut diags),
            Some(Kind::Handling) => handling = handling::read(&yaml, &mut diags),
            Some(Kind::Budgets) => {
                budgets = budgets::read(&yaml, &mut budget_refs, &mut diags);
            }
            Some(Kind::Change) => change = change::read(&yaml, &mut diags),
            Some(Kind::Scanning) | None => {}
        }
    }
    let (inventory, inv_diags) = reader.finish();
    diags.extend(inv_diags);
    budgets::check_references(&budget_refs, &inventory, &mut diags);
    let scan_rules = scanning::build(&scanning_files(&files), &mut diags);

    // Policies are checked even when the inventory has errors, so one run reports everything.
    let engine = match Engine::build(&inventory, &policies, &schemas) {
        Ok(engine) => {
            diags.extend(engine.warnings().iter().cloned());
            Some(engine)
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    if let Some(engine) = &engine {
        let ids: HashSet<&str> = engine.policies().iter().map(|p| p.id.as_str()).collect();
        for t in &tests {
            for id in t.determining.iter().flatten() {
                if !ids.contains(id.as_str()) {
                    diags.push(
                        Diagnostic::error(
                            "unknown-policy",
                            t.location.clone(),
                            format!(
                                "test `{}` expects policy `{id}`, which does not exist",
                                t.name
                            ),
                        )
                        .with_hint(
                            policy::closest(id, ids.iter().map(|s| s.to_string())).map_or_else(
                                || "check the policy's `@id`".to_owned(),
                                |b| format!("did you mean `{b}`?"),
                            ),
                        ),
                    );
                }
            }
        }
    }
    diags.sort_by(|a, b| a.location.cmp(&b.location));
    match (engine, scan_rules, retention, handling, budgets, change) {
        (
            Some(engine),
            Some(scan_rules),
            Some(retention),
            Some(handling),
            Some(budgets),
            Some(change),
        ) if !diags.iter().any(Diagnostic::is_error) => Ok(Bundle {
            root: root.to_owned(),
            inventory,
            engine,
            tests,
            warnings: diags,
            digest,
            scanner: std::sync::Arc::new(
                scanner::Scanner::new(&scan_rules).expect("checked by scanning::build"),
            ),
            retention,
            handling,
            budgets,
            change,
        }),
        _ => Err(LoadError::Invalid(diags)),
    }
}

fn scanning_files(files: &[File]) -> Vec<(&str, &str)> {
    files
        .iter()
        .filter(|f| kind_of(&f.rel) == Some(Kind::Scanning))
        .map(|f| (f.rel.as_str(), f.text.as_str()))
        .collect()
}

/// Reads only the bundle's scanning settings (for `aigov scan --bundle`): its rule set, and
/// warnings about rule-file features aigov does not honour.
pub fn load_scanning(root: &Path) -> Result<(scanner::RuleSet, Vec<Diagnostic>), LoadError> {
    let mut files = Vec::new();
    for (rel, path) in walk(root)? {
        if kind_of(&rel) == Some(Kind::Scanning) {
            let text =
                std::fs::read_to_string(&path).map_err(|source| LoadError::Io { path, source })?;
            files.push(File { rel, text });
        }
    }
    let mut diags = Vec::new();
    match scanning::build(&scanning_files(&files), &mut diags) {
        Some(rules) if !diags.iter().any(Diagnostic::is_error) => Ok((rules, diags)),
        _ => Err(LoadError::Invalid(diags)),
    }
}

/// Runs every test case of the bundle against its engine.
pub fn run_tests(bundle: &Bundle) -> Vec<TestResult> {
    cases::run(bundle)
}

/// A cheap fingerprint of the bundle's files (paths, sizes, modification times) for change polling.
pub fn fingerprint(root: &Path) -> std::io::Result<u64> {
    let files = walk(root).map_err(|e| match e {
        LoadError::Io { source, .. } => source,
        LoadError::Invalid(_) => std::io::Error::other("unreachable"),
    })?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (rel, path) in files {
        let meta = std::fs::metadata(&path)?;
        rel.hash(&mut h);
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    Ok(h.finish())
}
