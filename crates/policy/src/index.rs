//! Slices the policy set by scope so a decision evaluates only policies that can apply to it.
//!
//! Policies are grouped into buckets by action, then by the entity their resource scope names,
//! else the entity their principal scope names, else "unscoped". A request looks only at the
//! buckets keyed by its resource, its principal and their ancestors, plus the unscoped ones,
//! and then checks each candidate's scope exactly. A policy that is never looked at has a scope
//! that cannot match the request, so Cedar would neither satisfy it nor evaluate its
//! conditions: slicing is exact, not a heuristic.

use std::collections::HashMap;

use cedar_policy::{ActionConstraint, EntityUid, Policy};

use crate::native::Scope;

/// Per action: buckets (indices into `ScopeIndex::buckets`) keyed by scope entity.
#[derive(Debug, Default)]
struct ActionSlice {
    unscoped: Option<usize>,
    by_resource: HashMap<EntityUid, usize>,
    by_principal: HashMap<EntityUid, usize>,
}

#[derive(Debug)]
pub(crate) struct ScopeIndex {
    /// Policy indices per bucket.
    buckets: Vec<Vec<u32>>,
    by_action: HashMap<EntityUid, ActionSlice>,
    /// Policies with an unconstrained action scope.
    any_action: ActionSlice,
    pub(crate) principal: Vec<Scope>,
    pub(crate) resource: Vec<Scope>,
}

impl ScopeIndex {
    pub(crate) fn new(policies: &[Policy]) -> ScopeIndex {
        let mut index = ScopeIndex {
            buckets: Vec::new(),
            by_action: HashMap::new(),
            any_action: ActionSlice::default(),
            principal: Vec::new(),
            resource: Vec::new(),
        };
        for (i, p) in policies.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 policies");
            let principal = Scope::principal(p.principal_constraint());
            let resource = Scope::resource(p.resource_constraint());
            let buckets = &mut index.buckets;
            let mut place = |slice: &mut ActionSlice| {
                let new_bucket = || {
                    buckets.push(Vec::new());
                    buckets.len() - 1
                };
                let b = match (resource.key(), principal.key()) {
                    (Some(k), _) => *slice
                        .by_resource
                        .entry(k.clone())
                        .or_insert_with(new_bucket),
                    (None, Some(k)) => *slice
                        .by_principal
                        .entry(k.clone())
                        .or_insert_with(new_bucket),
                    (None, None) => *slice.unscoped.get_or_insert_with(new_bucket),
                };
                buckets[b].push(i);
            };
            match p.action_constraint() {
                ActionConstraint::Any => place(&mut index.any_action),
                ActionConstraint::Eq(a) => place(index.by_action.entry(a).or_default()),
                ActionConstraint::In(actions) => {
                    for a in actions {
                        place(index.by_action.entry(a).or_default());
                    }
                }
            }
            index.principal.push(principal);
            index.resource.push(resource);
        }
        index
    }

    /// Indices of the policies whose scope matches the request; each appears once.
    pub(crate) fn candidates<'a>(
        &'a self,
        action: &EntityUid,
        principal: &'a EntityUid,
        principal_ancestors: &'a [EntityUid],
        resource: &'a EntityUid,
        resource_ancestors: &'a [EntityUid],
    ) -> impl Iterator<Item = usize> + 'a {
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
            .flat_map(move |&b| self.buckets[b].iter().map(|&i| i as usize))
            .filter(move |&i| {
                self.resource[i].matches(resource, resource_ancestors)
                    && self.principal[i].matches(principal, principal_ancestors)
            })
    }
}
