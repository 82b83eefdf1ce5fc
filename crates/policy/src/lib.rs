//! The policy engine: Cedar policies over the inventory, sliced by scope, failing closed. No IO.

use model::{Decision, DecisionRequest, Diagnostic, Effect, Inventory, Location};

/// One `.cedar` file of the bundle, path relative to the bundle root.
#[derive(Debug, Clone)]
pub struct PolicySource {
    pub path: String,
    pub text: String,
}

/// One extra `.cedarschema` file of the bundle that extends the shipped schema.
#[derive(Debug, Clone)]
pub struct SchemaSource {
    pub path: String,
    pub text: String,
}

/// What the engine knows about a loaded policy.
#[derive(Debug, Clone)]
pub struct PolicyInfo {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
    pub location: Location,
}

/// A compiled, validated policy set over one inventory. Cheap to share (`Send + Sync`).
#[derive(Debug)]
pub struct Engine {}

impl Engine {
    /// Validates and compiles; every problem is reported, with file and line.
    pub fn build(
        _inventory: &Inventory,
        _policies: &[PolicySource],
        _schemas: &[SchemaSource],
    ) -> Result<Engine, Vec<Diagnostic>> {
        unimplemented!()
    }
    pub fn decide(&self, _request: &DecisionRequest) -> Decision {
        unimplemented!()
    }
    pub fn policies(&self) -> &[PolicyInfo] {
        unimplemented!()
    }
}
