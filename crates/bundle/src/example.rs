//! The example bundle (`examples/governance/`), embedded so `aigov serve` runs with no set-up.

use std::path::Path;

/// Every file of the example bundle: path relative to the bundle root, and content.
pub const FILES: &[(&str, &str)] = &[
    (
        "README.md",
        include_str!("../../../examples/governance/README.md"),
    ),
    (
        "inventory/teams.yaml",
        include_str!("../../../examples/governance/inventory/teams.yaml"),
    ),
    (
        "inventory/people.yaml",
        include_str!("../../../examples/governance/inventory/people.yaml"),
    ),
    (
        "inventory/applications.yaml",
        include_str!("../../../examples/governance/inventory/applications.yaml"),
    ),
    (
        "inventory/tools.yaml",
        include_str!("../../../examples/governance/inventory/tools.yaml"),
    ),
    (
        "inventory/catalog/catalog-info.yaml",
        include_str!("../../../examples/governance/inventory/catalog/catalog-info.yaml"),
    ),
    (
        "policy/gateway.cedar",
        include_str!("../../../examples/governance/policy/gateway.cedar"),
    ),
    (
        "policy/change.cedar",
        include_str!("../../../examples/governance/policy/change.cedar"),
    ),
    (
        "policy/tests/gateway.yaml",
        include_str!("../../../examples/governance/policy/tests/gateway.yaml"),
    ),
    (
        "policy/tests/change.yaml",
        include_str!("../../../examples/governance/policy/tests/change.yaml"),
    ),
    (
        "scanning/allowlists.yaml",
        include_str!("../../../examples/governance/scanning/allowlists.yaml"),
    ),
    (
        "retention.yaml",
        include_str!("../../../examples/governance/retention.yaml"),
    ),
    (
        "handling.yaml",
        include_str!("../../../examples/governance/handling.yaml"),
    ),
    (
        "budgets.yaml",
        include_str!("../../../examples/governance/budgets.yaml"),
    ),
    (
        "change.yaml",
        include_str!("../../../examples/governance/change.yaml"),
    ),
];

/// Writes the example bundle into `dir` (created if missing); existing files are kept.
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !path.exists() {
            std::fs::write(&path, text)?;
        }
    }
    Ok(())
}
