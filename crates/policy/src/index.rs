//! Slices the policy set by scope so a decision evaluates only policies that can apply to it.
//!
//! Policies are grouped into buckets by action, then by the entity their resource scope names,
//! else the entity their principal scope names, else "unscoped". Each bucket is a ready Cedar
//! `PolicySet`. A request evaluates only the buckets keyed by its resource, its principal and
//! their ancestors, plus the unscoped ones, and merges the answers. A policy in a bucket that is
//! not evaluated has a scope that cannot match the request, so Cedar would neither satisfy it
//! nor evaluate its conditions: slicing is exact, not a heuristic.

use std::collections::HashMap;

use cedar_policy::{
    ActionConstraint, EntityUid, Policy, PolicySet, PrincipalConstraint, ResourceConstraint,
};

/// The entity a principal or resource scope names (`==`, `in`, `is … in`), if any.
fn principal_key(c: PrincipalConstraint) -> Option<EntityUid> {
    match c {
        PrincipalConstraint::Eq(e)
        | PrincipalConstraint::In(e)
        | PrincipalConstraint::IsIn(_, e) => Some(e),
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) => None,
    }
}

fn resource_key(c: ResourceConstraint) -> Option<EntityUid> {
    match c {
        ResourceConstraint::Eq(e) | ResourceConstraint::In(e) | ResourceConstraint::IsIn(_, e) => {
            Some(e)
        }
        ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
    }
}

/// Per action: buckets (indices into `ScopeIndex::buckets`) keyed by scope entity.
#[derive(Debug, Default)]
struct ActionSlice {
    unscoped: Option<usize>,
    by_resource: HashMap<EntityUid, usize>,
    by_principal: HashMap<EntityUid, usize>,
}

#[derive(Debug)]
pub(crate) struct ScopeIndex {
    buckets: Vec<PolicySet>,
    by_action: HashMap<EntityUid, ActionSlice>,
    /// Policies with an unconstrained action scope.
    any_action: ActionSlice,
    /// Every policy, for the whole-set baseline.
    all: PolicySet,
}

impl ScopeIndex {
    pub(crate) fn new(policies: Vec<Policy>) -> ScopeIndex {
        let mut buckets: Vec<PolicySet> = Vec::new();
        let mut by_action: HashMap<EntityUid, ActionSlice> = HashMap::new();
        let mut any_action = ActionSlice::default();
        let mut all = PolicySet::new();
        for p in policies {
            let resource = resource_key(p.resource_constraint());
            let principal = principal_key(p.principal_constraint());
            let mut place = |slice: &mut ActionSlice| {
                let bucket = match (&resource, &principal) {
                    (Some(k), _) => slice.by_resource.entry(k.clone()),
                    (None, Some(k)) => slice.by_principal.entry(k.clone()),
                    (None, None) => {
                        let b = *slice.unscoped.get_or_insert_with(|| {
                            buckets.push(PolicySet::new());
                            buckets.len() - 1
                        });
                        buckets[b].add(p.clone()).expect("policy ids are unique");
                        return;
                    }
                };
                let b = *bucket.or_insert_with(|| {
                    buckets.push(PolicySet::new());
                    buckets.len() - 1
                });
                buckets[b].add(p.clone()).expect("policy ids are unique");
            };
            match p.action_constraint() {
                ActionConstraint::Any => place(&mut any_action),
                ActionConstraint::Eq(a) => place(by_action.entry(a).or_default()),
                ActionConstraint::In(actions) => {
                    for a in actions {
                        place(by_action.entry(a).or_default());
                    }
                }
            }
            all.add(p).expect("policy ids are unique");
        }
        ScopeIndex {
            buckets,
            by_action,
            any_action,
            all,
        }
    }

    /// The policy sets to evaluate for a request; each policy appears in at most one of them.
    pub(crate) fn slices<'a>(
        &'a self,
        action: &EntityUid,
        principal: &'a EntityUid,
        principal_ancestors: &'a [EntityUid],
        resource: &'a EntityUid,
        resource_ancestors: &'a [EntityUid],
    ) -> impl Iterator<Item = &'a PolicySet> + 'a {
        [self.by_action.get(action), Some(&self.any_action)]
            .into_iter()
            .flatten()
            .flat_map(move |slice| {
                let by_resource = std::iter::once(resource)
                    .chain(resource_ancestors)
                    .filter_map(|k| slice.by_resource.get(k));
                let by_principal = std::iter::once(principal)
                    .chain(principal_ancestors)
                    .filter_map(|k| slice.by_principal.get(k));
                slice.unscoped.iter().chain(by_resource).chain(by_principal)
            })
            .map(|&b| &self.buckets[b])
    }

    pub(crate) fn all(&self) -> &PolicySet {
        &self.all
    }
}
