//! Slices the policy set by scope so a decision evaluates only policies that can apply to it.
//!
//! A policy whose scope (principal / action / resource constraint) does not match a request is
//! neither satisfied nor evaluated by Cedar, so dropping it changes neither the decision nor
//! the errors: slicing is exact, not a heuristic. Slices are cached as ready `PolicySet`s.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, Policy, PolicySet, PrincipalConstraint,
    ResourceConstraint,
};

/// A principal or resource scope constraint, in one shape for both.
#[derive(Debug, Clone)]
enum Scope {
    Any,
    Eq(EntityUid),
    In(EntityUid),
    Is(EntityTypeName),
    IsIn(EntityTypeName, EntityUid),
}

impl Scope {
    fn matches(&self, uid: &EntityUid, ancestors: &[EntityUid]) -> bool {
        let within = |g: &EntityUid| g == uid || ancestors.contains(g);
        match self {
            Scope::Any => true,
            Scope::Eq(e) => e == uid,
            Scope::In(g) => within(g),
            Scope::Is(t) => t == uid.type_name(),
            Scope::IsIn(t, g) => t == uid.type_name() && within(g),
        }
    }

    /// The entity a scope is keyed by in the index, if any.
    fn key(&self) -> Option<&EntityUid> {
        match self {
            Scope::Eq(e) | Scope::In(e) | Scope::IsIn(_, e) => Some(e),
            Scope::Any | Scope::Is(_) => None,
        }
    }
}

impl From<PrincipalConstraint> for Scope {
    fn from(c: PrincipalConstraint) -> Scope {
        match c {
            PrincipalConstraint::Any => Scope::Any,
            PrincipalConstraint::Eq(e) => Scope::Eq(e),
            PrincipalConstraint::In(e) => Scope::In(e),
            PrincipalConstraint::Is(t) => Scope::Is(t),
            PrincipalConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }
}

impl From<ResourceConstraint> for Scope {
    fn from(c: ResourceConstraint) -> Scope {
        match c {
            ResourceConstraint::Any => Scope::Any,
            ResourceConstraint::Eq(e) => Scope::Eq(e),
            ResourceConstraint::In(e) => Scope::In(e),
            ResourceConstraint::Is(t) => Scope::Is(t),
            ResourceConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }
}

#[derive(Debug)]
struct Entry {
    principal: Scope,
    resource: Scope,
}

/// Per action: policies keyed by the entity in their resource scope, else by the entity in
/// their principal scope, plus the unkeyed rest (scoped by neither).
#[derive(Debug, Default)]
struct ActionSlice {
    unkeyed: Vec<u32>,
    by_resource: HashMap<EntityUid, Vec<u32>>,
    by_principal: HashMap<EntityUid, Vec<u32>>,
}

/// Upper bound on cached slices; past it the cache starts over (slices are cheap to rebuild).
const CACHE_CAPACITY: usize = 4096;

#[derive(Debug)]
pub(crate) struct ScopeIndex {
    policies: Vec<Policy>,
    entries: Vec<Entry>,
    by_action: HashMap<EntityUid, ActionSlice>,
    /// Policies with an unconstrained action scope, merged into every action's slice.
    any_action: ActionSlice,
    cache: RwLock<HashMap<Box<[u32]>, Arc<PolicySet>>>,
}

impl ScopeIndex {
    pub(crate) fn new(policies: Vec<Policy>) -> ScopeIndex {
        let mut entries = Vec::with_capacity(policies.len());
        let mut by_action: HashMap<EntityUid, ActionSlice> = HashMap::new();
        let mut any_action = ActionSlice::default();
        for (i, p) in policies.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 policies");
            let entry = Entry {
                principal: p.principal_constraint().into(),
                resource: p.resource_constraint().into(),
            };
            let place =
                |slice: &mut ActionSlice| match (entry.resource.key(), entry.principal.key()) {
                    (Some(k), _) => slice.by_resource.entry(k.clone()).or_default().push(i),
                    (None, Some(k)) => slice.by_principal.entry(k.clone()).or_default().push(i),
                    (None, None) => slice.unkeyed.push(i),
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
            entries.push(entry);
        }
        ScopeIndex {
            policies,
            entries,
            by_action,
            any_action,
            cache: RwLock::default(),
        }
    }

    /// Indices of the policies whose scope matches, sorted and deduplicated.
    pub(crate) fn candidates(
        &self,
        action: &EntityUid,
        principal: &EntityUid,
        principal_ancestors: &[EntityUid],
        resource: &EntityUid,
        resource_ancestors: &[EntityUid],
    ) -> Vec<u32> {
        let mut out = Vec::new();
        let slices = [self.by_action.get(action), Some(&self.any_action)];
        for slice in slices.into_iter().flatten() {
            let by_resource = std::iter::once(resource)
                .chain(resource_ancestors)
                .filter_map(|k| slice.by_resource.get(k))
                .flatten();
            let by_principal = std::iter::once(principal)
                .chain(principal_ancestors)
                .filter_map(|k| slice.by_principal.get(k))
                .flatten();
            for &i in slice.unkeyed.iter().chain(by_resource).chain(by_principal) {
                let e = &self.entries[i as usize];
                if e.resource.matches(resource, resource_ancestors)
                    && e.principal.matches(principal, principal_ancestors)
                {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The policy set for a slice, built once and then shared.
    pub(crate) fn policy_set(&self, slice: &[u32]) -> Arc<PolicySet> {
        if let Some(set) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slice)
        {
            return Arc::clone(set);
        }
        let mut set = PolicySet::new();
        for &i in slice {
            set.add(self.policies[i as usize].clone())
                .expect("policy ids are unique");
        }
        let set = Arc::new(set);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(slice.into(), Arc::clone(&set));
        set
    }
}
