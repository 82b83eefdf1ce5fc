//! The governance bundle: reads inventory YAML, Backstage catalog files, Cedar policies and
//! policy tests from a directory, validates them together and runs the policy tests.

use std::path::{Path, PathBuf};

use model::{Decision, DecisionRequest, Diagnostic, Inventory, Location, Outcome};
use policy::Engine;

/// A loaded, valid bundle.
#[derive(Debug)]
pub struct Bundle {
    pub root: PathBuf,
    pub inventory: Inventory,
    pub engine: Engine,
    pub tests: Vec<PolicyTest>,
    /// Non-fatal findings (e.g. a vendor review overdue).
    pub warnings: Vec<Diagnostic>,
    /// SHA-256 over every file's path and content, hex; identifies the bundle version.
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read bundle at `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
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

pub fn load(_root: &Path) -> Result<Bundle, LoadError> {
    unimplemented!()
}

/// Runs every test case of the bundle against its engine.
pub fn run_tests(_bundle: &Bundle) -> Vec<TestResult> {
    unimplemented!()
}

/// A cheap fingerprint of the bundle's files (paths, sizes, modification times) for change polling.
pub fn fingerprint(_root: &Path) -> std::io::Result<u64> {
    unimplemented!()
}

/// The example bundle shipped inside the binary (`examples/governance/`).
pub mod example {
    /// Writes the example bundle into `dir` (created if missing); existing files are kept.
    pub fn write_to(_dir: &std::path::Path) -> std::io::Result<()> {
        unimplemented!()
    }
}
