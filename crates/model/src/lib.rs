//! aigov's domain vocabulary: inventory records, decision requests and decisions, diagnostics,
//! budgets and prices.
//!
//! Every other crate speaks these types. Nothing here does IO or knows a wire format beyond
//! serde derives (used for the bundle files, the API and the store's JSON payloads).

mod budget;
mod change;
mod decision;
mod diagnostic;
mod handling;
mod inventory;
mod retention;

pub use budget::{
    Budget, BudgetUse, Budgets, Dimension, Filter, Limits, MICRO_USD_PER_USD, Metric, ModelPrice,
    PriceTable, Window, format_usd, is_tag_key,
};
pub use change::{ChangeManagement, parse_duration};
pub use decision::{
    Action, BudgetState, ChangeFacts, Decision, DecisionRequest, DeployContext, DeterminingPolicy,
    Effect, FindingSummary, MergeContext, Outcome, PolicyEvalError, PromptContext,
};
pub use diagnostic::{Diagnostic, Location, Severity};
pub use handling::{FindingAction, Handling, HandlingRule};
pub use inventory::{
    AiTool, Application, DataClassification, Hosting, Inventory, Model, Owner, Person,
    RolloutStage, Team, ToolStatus, Vendor,
};
pub use retention::{ContentRetention, Retention};
