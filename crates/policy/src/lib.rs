//! The policy engine: Cedar policies over the inventory, sliced by scope, failing closed. No IO.
//!
//! [`Engine::build`] validates policies against aigov's Cedar schema and the inventory and
//! reports every problem with file and line; [`Engine::decide`] answers one of the three decision
//! points with a [`Decision`] (never an error): anything that cannot be decided is a deny.

mod build;
mod entities;
mod index;
mod source;
#[doc(hidden)]
pub mod synth;

use std::collections::HashMap;

use cedar_policy::{Authorizer, Entities, EntityUid, PolicyId};
use model::{
    Decision, DecisionRequest, DeterminingPolicy, Diagnostic, Effect, Location, Outcome,
    PolicyEvalError,
};

pub use build::closest;
pub use entities::is_production;

use crate::entities::Types;
use crate::index::ScopeIndex;

/// The Cedar schema aigov ships; bundles extend it with their own `.cedarschema` files.
pub const SCHEMA: &str = include_str!("aigov.cedarschema");

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
pub struct Engine {
    types: Types,
    entities: Entities,
    /// Every inventory entity with its ancestors (transitive), precomputed for slicing.
    ancestors: HashMap<EntityUid, Box<[EntityUid]>>,
    index: ScopeIndex,
    infos: Vec<PolicyInfo>,
    by_id: HashMap<PolicyId, usize>,
    warnings: Vec<Diagnostic>,
    authorizer: Authorizer,
}

impl Engine {
    /// Validates and compiles; every problem is reported, with file and line.
    pub fn build(
        inventory: &model::Inventory,
        policies: &[PolicySource],
        schemas: &[SchemaSource],
    ) -> Result<Engine, Vec<Diagnostic>> {
        build::build(inventory, policies, schemas)
    }

    /// Every loaded policy, in bundle order.
    pub fn policies(&self) -> &[PolicyInfo] {
        &self.infos
    }

    /// Non-fatal findings from validation (Cedar warnings).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Decides a request. Unknown principals, resources or context entities, and any `forbid`
    /// that fails to evaluate, deny the request (fail closed).
    pub fn decide(&self, request: &DecisionRequest) -> Decision {
        let t = &self.types;
        let action = request.action();
        let principal = Types::uid(&t.person, request.principal());
        let resource = Types::uid(t.resource_type(action), request.resource());
        let Some(principal_ancestors) = self.ancestors.get(&principal) else {
            return Decision::deny_with_note(format!(
                "unknown person `{}`: not in the inventory; add them to the bundle's inventory/people.yaml",
                request.principal()
            ));
        };
        let Some(resource_ancestors) = self.ancestors.get(&resource) else {
            let what = match action.resource_type() {
                "Repository" => "repository is not listed under any application",
                _ => "environment (`application/environment`) is not listed under any application",
            };
            return Decision::deny_with_note(format!(
                "unknown {} `{}`: this {what} in the inventory",
                action.resource_type().to_lowercase(),
                request.resource()
            ));
        };
        for (field, uid) in entities::context_entities(t, request) {
            if !self.ancestors.contains_key(&uid) {
                return Decision::deny_with_note(format!(
                    "unknown {field} `{}`: not in the inventory",
                    uid.id().unescaped()
                ));
            }
        }
        let action_uid = t.action(action);
        let mut slices = self
            .index
            .slices(
                &action_uid,
                &principal,
                principal_ancestors,
                &resource,
                resource_ancestors,
            )
            .peekable();
        if slices.peek().is_none() {
            return Decision::deny_with_note(no_permit_note());
        }
        let cedar_request =
            entities::cedar_request(t, principal.clone(), resource.clone(), request);
        let responses: Vec<cedar_policy::Response> = slices
            .map(|set| {
                self.authorizer
                    .is_authorized(&cedar_request, set, &self.entities)
            })
            .collect();
        self.decision_from(&responses)
    }

    /// The same decision evaluated against the whole policy set, without slicing: the baseline
    /// the benchmark compares with, and the oracle the slicing tests check against.
    #[doc(hidden)]
    pub fn decide_unsliced(&self, request: &DecisionRequest) -> Decision {
        let t = &self.types;
        let action = request.action();
        let principal = Types::uid(&t.person, request.principal());
        let resource = Types::uid(t.resource_type(action), request.resource());
        if !self.ancestors.contains_key(&principal) || !self.ancestors.contains_key(&resource) {
            return self.decide(request);
        }
        let cedar_request = entities::cedar_request(t, principal, resource, request);
        let response =
            self.authorizer
                .is_authorized(&cedar_request, self.index.all(), &self.entities);
        self.decision_from(&[response])
    }

    fn info(&self, id: &PolicyId) -> &PolicyInfo {
        &self.infos[self.by_id[id]]
    }

    /// Merges the answers for disjoint slices of the policy set. Cedar's semantics decompose:
    /// deny if any forbid is satisfied, else allow if any permit is. A slice that answers Allow
    /// reports its satisfied permits; one that answers Deny reports its satisfied forbids.
    fn decision_from(&self, responses: &[cedar_policy::Response]) -> Decision {
        let mut permits: Vec<usize> = Vec::new();
        let mut forbids: Vec<usize> = Vec::new();
        let mut errors: Vec<PolicyEvalError> = Vec::new();
        for response in responses {
            let diagnostics = response.diagnostics();
            let ids = diagnostics.reason().map(|id| self.by_id[id]);
            match response.decision() {
                cedar_policy::Decision::Allow => permits.extend(ids),
                cedar_policy::Decision::Deny => forbids.extend(ids),
            }
            errors.extend(diagnostics.errors().map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
                let info = self.info(e.policy_id());
                PolicyEvalError {
                    policy_id: info.id.clone(),
                    effect: info.effect,
                    message: e.inner().to_string(),
                }
            }));
        }
        // Cedar reports sets; bundle order makes decisions reproducible.
        errors.sort_by_key(|e| self.by_id[&PolicyId::new(&e.policy_id)]);
        let erroring_forbids: Vec<&PolicyEvalError> = errors
            .iter()
            .filter(|e| e.effect == Effect::Forbid)
            .collect();
        let outcome = if forbids.is_empty() && !permits.is_empty() && erroring_forbids.is_empty() {
            Outcome::Allow
        } else {
            Outcome::Deny
        };
        // On a deny only satisfied forbids determine the outcome; on an allow, the permits.
        let mut chosen = if outcome == Outcome::Allow {
            permits
        } else {
            forbids
        };
        chosen.sort_unstable();
        let determining: Vec<DeterminingPolicy> = chosen
            .into_iter()
            .map(|i| {
                let info = &self.infos[i];
                DeterminingPolicy {
                    id: info.id.clone(),
                    effect: info.effect,
                    reason: info.reason.clone(),
                }
            })
            .collect();
        let mut notes = Vec::new();
        for e in &erroring_forbids {
            notes.push(format!(
                "forbid policy `{}` failed to evaluate ({}); denied because a policy that cannot be evaluated must not let a request through",
                e.policy_id, e.message
            ));
        }
        if outcome == Outcome::Deny && determining.is_empty() && erroring_forbids.is_empty() {
            notes.push(no_permit_note());
        }
        Decision {
            outcome,
            determining,
            errors,
            notes,
        }
    }
}

fn no_permit_note() -> String {
    "no policy permits this request (default deny)".to_owned()
}
