//! The policy engine: Cedar policies over the inventory, sliced by scope, failing closed. No IO.
//!
//! [`Engine::build`] validates policies against aigov's Cedar schema and the inventory and
//! reports every problem with file and line; [`Engine::decide`] answers one of the three decision
//! points with a [`Decision`] (never an error): anything that cannot be decided is a deny.

mod build;
mod entities;
mod index;
mod native;
mod source;
#[doc(hidden)]
pub mod synth;
mod value;

use std::collections::HashMap;

use cedar_policy::{Authorizer, Entities, PolicyId, PolicySet};
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
    /// The same entities for the native evaluator, with transitive ancestors.
    store: native::Store,
    index: ScopeIndex,
    /// Per policy: its compiled conditions, or `None` when only Cedar can evaluate it.
    compiled: Vec<Option<native::Conditions>>,
    /// Per policy: a set holding just it, for Cedar evaluation of that one policy.
    single: Vec<PolicySet>,
    /// Every policy, for the whole-set baseline.
    all: PolicySet,
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

    /// How many policies the native evaluator compiled (the rest are always evaluated by Cedar).
    #[doc(hidden)]
    pub fn natively_compiled(&self) -> usize {
        self.compiled.iter().filter(|c| c.is_some()).count()
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
        let Some(principal_ancestors) = self.store.ancestors(&principal) else {
            return Decision::deny_with_note(format!(
                "unknown person `{}`: not in the inventory; add them to the bundle's inventory/people.yaml",
                request.principal()
            ));
        };
        let Some(resource_ancestors) = self.store.ancestors(&resource) else {
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
            if self.store.ancestors(&uid).is_none() {
                return Decision::deny_with_note(format!(
                    "unknown {field} `{}`: not in the inventory",
                    uid.id().unescaped()
                ));
            }
        }
        let action_uid = t.action(action);
        let context = entities::context_value(t, request);
        let env = native::Env {
            principal: &principal,
            action: &action_uid,
            resource: &resource,
            context: &context,
            store: &self.store,
        };
        let mut cedar_request = None;
        let mut outcome = Outcomes::default();
        for i in self.index.candidates(
            &action_uid,
            &principal,
            principal_ancestors,
            &resource,
            resource_ancestors,
        ) {
            let native = self.compiled[i].as_ref().map(|c| c.satisfied(&env));
            match native {
                Some(Ok(true)) => outcome.satisfied(i, self.infos[i].effect),
                Some(Ok(false)) => {}
                // Not compiled, or an evaluation error: Cedar decides, and reports the error.
                _ => {
                    let request = cedar_request.get_or_insert_with(|| {
                        entities::cedar_request(
                            t,
                            principal.clone(),
                            resource.clone(),
                            action,
                            &context,
                        )
                    });
                    let response =
                        self.authorizer
                            .is_authorized(request, &self.single[i], &self.entities);
                    outcome.add_response(self, &response);
                }
            }
        }
        self.decision_from(outcome)
    }

    /// The same decision evaluated by Cedar against the whole policy set, without slicing or
    /// the native evaluator: the baseline the benchmark compares with, and the oracle the
    /// differential tests check against.
    #[doc(hidden)]
    pub fn decide_unsliced(&self, request: &DecisionRequest) -> Decision {
        let t = &self.types;
        let action = request.action();
        let principal = Types::uid(&t.person, request.principal());
        let resource = Types::uid(t.resource_type(action), request.resource());
        if self.store.ancestors(&principal).is_none() || self.store.ancestors(&resource).is_none() {
            return self.decide(request);
        }
        let context = entities::context_value(t, request);
        let cedar_request = entities::cedar_request(t, principal, resource, action, &context);
        let response = self
            .authorizer
            .is_authorized(&cedar_request, &self.all, &self.entities);
        let mut outcome = Outcomes::default();
        outcome.add_response(self, &response);
        self.decision_from(outcome)
    }

    fn decision_from(&self, outcomes: Outcomes) -> Decision {
        let Outcomes {
            permits,
            forbids,
            mut errors,
        } = outcomes;
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

/// Satisfied policies and evaluation errors, gathered from native and Cedar evaluation.
/// Cedar's semantics decompose over disjoint policy sets: deny if any forbid is satisfied (or,
/// failing closed, errors), else allow if any permit is satisfied.
#[derive(Default)]
struct Outcomes {
    permits: Vec<usize>,
    forbids: Vec<usize>,
    errors: Vec<PolicyEvalError>,
}

impl Outcomes {
    fn satisfied(&mut self, policy: usize, effect: Effect) {
        match effect {
            Effect::Permit => self.permits.push(policy),
            Effect::Forbid => self.forbids.push(policy),
        }
    }

    /// A Cedar answer: an Allow reports its satisfied permits, a Deny its satisfied forbids.
    fn add_response(&mut self, engine: &Engine, response: &cedar_policy::Response) {
        let diagnostics = response.diagnostics();
        let ids = diagnostics.reason().map(|id| engine.by_id[id]);
        match response.decision() {
            cedar_policy::Decision::Allow => self.permits.extend(ids),
            cedar_policy::Decision::Deny => self.forbids.extend(ids),
        }
        self.errors.extend(diagnostics.errors().map(|e| {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
            let info = &engine.infos[engine.by_id[e.policy_id()]];
            PolicyEvalError {
                policy_id: info.id.clone(),
                effect: info.effect,
                message: e.inner().to_string(),
            }
        }));
    }
}

fn no_permit_note() -> String {
    "no policy permits this request (default deny)".to_owned()
}
