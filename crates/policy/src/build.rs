//! Builds an [`Engine`]: schema, policies, validation, inventory references, entities, index.
//! Collects every problem as a [`Diagnostic`] with file, line and a fix hint.

use std::collections::{BTreeSet, HashMap};

use cedar_policy::{
    Authorizer, Entities, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint,
    ResourceConstraint, Schema, SchemaFragment, ValidationMode, Validator,
};
use model::{Diagnostic, Effect, Inventory, Location};

use crate::entities::{self, Types};
use crate::index::ScopeIndex;
use crate::native;
use crate::source::{line_col, split_statements};
use crate::{Engine, PolicyInfo, PolicySource, SCHEMA, SchemaSource};

const BUILTIN_SCHEMA: &str = "<aigov schema>";

/// Entity types whose instances come from the inventory (others are enums or user-defined).
const INVENTORY_TYPES: &[&str] = &[
    "Person",
    "Team",
    "Vendor",
    "Tool",
    "Model",
    "Application",
    "Repository",
    "Environment",
];

/// Where a parsed policy came from.
struct Origin<'a> {
    file: &'a str,
    text: &'a str,
    offset: usize,
    stmt: &'a str,
}

fn location(file: &str, text: &str, offset: usize) -> Location {
    let (line, column) = line_col(text, offset);
    Location::new(file, line, column)
}

/// A diagnostic from one of Cedar's errors; label offsets are relative to `base` in `text`.
fn from_miette(
    code: &str,
    file: &str,
    text: &str,
    base: usize,
    err: &dyn miette::Diagnostic,
) -> Diagnostic {
    let offset = err
        .labels()
        .and_then(|mut l| l.next())
        .map_or(0, |l| l.offset());
    let mut message = err.to_string();
    if let Some(label) = err
        .labels()
        .and_then(|mut l| l.next())
        .and_then(|l| l.label().map(str::to_owned))
        && !message.contains(&label)
    {
        message = format!("{message}: {label}");
    }
    let d = Diagnostic::error(code, location(file, text, base + offset), message);
    match err.help() {
        Some(help) => d.with_hint(help.to_string()),
        None => d,
    }
}

fn schema(schemas: &[SchemaSource], diags: &mut Vec<Diagnostic>) -> Option<Schema> {
    let mut fragments = Vec::new();
    let builtin = std::iter::once((BUILTIN_SCHEMA, SCHEMA));
    for (path, text) in builtin.chain(schemas.iter().map(|s| (s.path.as_str(), s.text.as_str()))) {
        match SchemaFragment::from_cedarschema_str(text) {
            Ok((fragment, _warnings)) => fragments.push(fragment),
            Err(e) => diags.push(from_miette("cedar-schema", path, text, 0, &e)),
        }
    }
    if !diags.is_empty() {
        return None;
    }
    match Schema::from_schema_fragments(fragments) {
        Ok(s) => Some(s),
        Err(e) => {
            let file = schemas.first().map_or(BUILTIN_SCHEMA, |s| s.path.as_str());
            let d = Diagnostic::error("cedar-schema", Location::file(file), e.to_string())
                .with_hint("bundle schema files may add entity types and actions but not redefine aigov's (see `aigov policy schema`)");
            diags.push(d);
            None
        }
    }
}

pub(crate) fn build(
    inventory: &Inventory,
    sources: &[PolicySource],
    schemas: &[SchemaSource],
) -> Result<Engine, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let schema = schema(schemas, &mut diags);

    // Parse each statement on its own so every policy keeps its file and line.
    let mut policies: Vec<Policy> = Vec::new();
    let mut infos: Vec<PolicyInfo> = Vec::new();
    let mut origins: HashMap<PolicyId, Origin<'_>> = HashMap::new();
    let mut seen: HashMap<String, Location> = HashMap::new();
    for src in sources {
        for stmt in split_statements(&src.text) {
            let loc = location(&src.path, &src.text, stmt.offset);
            let policy = match Policy::parse(None, stmt.text) {
                Ok(p) => p,
                Err(errs) => {
                    for e in errs.iter() {
                        diags.push(from_miette(
                            "cedar-syntax",
                            &src.path,
                            &src.text,
                            stmt.offset,
                            e,
                        ));
                    }
                    continue;
                }
            };
            let Some(id) = policy.annotation("id").map(str::to_owned) else {
                diags.push(
                    Diagnostic::error("missing-id", loc, "policy has no `@id` annotation")
                        .with_hint("add `@id(\"short-kebab-name\")` on the line above the policy; ids appear in every decision"),
                );
                continue;
            };
            if let Some(first) = seen.get(&id) {
                diags.push(
                    Diagnostic::error(
                        "duplicate-id",
                        loc,
                        format!("policy id `{id}` is used twice"),
                    )
                    .with_hint(format!(
                        "the first `{id}` is at {first}; give each policy its own id"
                    )),
                );
                continue;
            }
            seen.insert(id.clone(), loc.clone());
            let reason = match policy.annotation("reason") {
                Some(r) if !r.trim().is_empty() => r.to_owned(),
                _ => {
                    diags.push(
                        Diagnostic::error("missing-reason", loc.clone(), format!("policy `{id}` has no `@reason` annotation"))
                            .with_hint("add `@reason(\"…\")` with the sentence a developer sees when this policy decides"),
                    );
                    String::new()
                }
            };
            let pid = PolicyId::new(&id);
            let effect = match policy.effect() {
                cedar_policy::Effect::Permit => Effect::Permit,
                cedar_policy::Effect::Forbid => Effect::Forbid,
            };
            origins.insert(
                pid.clone(),
                Origin {
                    file: &src.path,
                    text: &src.text,
                    offset: stmt.offset,
                    stmt: stmt.text,
                },
            );
            policies.push(policy.new_id(pid));
            infos.push(PolicyInfo {
                id,
                effect,
                reason,
                location: loc,
            });
        }
    }

    let types = Types::new();
    let records = entities::inventory_entities(&types, inventory);
    let mut engine_entities = None;
    if let Some(schema) = &schema {
        validate(schema, &policies, &origins, &mut diags);
        check_references(&records, &policies, &origins, &mut diags);
        match Entities::from_entities(records.iter().map(entities::Record::to_cedar), Some(schema)) {
            Ok(e) => engine_entities = Some(e),
            Err(e) => diags.push(
                Diagnostic::error("inventory-schema", Location::file("inventory"), e.to_string())
                    .with_hint("an inventory record does not fit aigov's Cedar schema; check the references it names"),
            ),
        }
    }

    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        diags.into_iter().partition(Diagnostic::is_error);
    match engine_entities {
        Some(entities) if errors.is_empty() => {
            let by_id = infos
                .iter()
                .enumerate()
                .map(|(i, p)| (PolicyId::new(&p.id), i))
                .collect();
            let mut store = native::Store::default();
            for r in &records {
                let ancestors = entities
                    .ancestors(&r.uid)
                    .map(|a| a.cloned().collect())
                    .unwrap_or_default();
                store.insert(r.uid.clone(), &r.attrs, ancestors);
            }
            let single = policies
                .iter()
                .map(|p| PolicySet::from_policies([p.clone()]).expect("one policy is a valid set"))
                .collect();
            let all =
                PolicySet::from_policies(policies.iter().cloned()).expect("policy ids are unique");
            Ok(Engine {
                types,
                entities,
                store,
                index: ScopeIndex::new(&policies),
                compiled: policies.iter().map(native::compile).collect(),
                single,
                all,
                infos,
                by_id,
                warnings,
                authorizer: Authorizer::new(),
            })
        }
        _ => Err(errors.into_iter().chain(warnings).collect()),
    }
}

fn validate(
    schema: &Schema,
    policies: &[Policy],
    origins: &HashMap<PolicyId, Origin<'_>>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut set = PolicySet::new();
    for p in policies {
        set.add(p.clone()).expect("ids were checked for duplicates");
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    for e in result.validation_errors() {
        let o = &origins[e.policy_id()];
        diags.push(from_miette("cedar-validation", o.file, o.text, o.offset, e));
    }
    for w in result.validation_warnings() {
        let o = &origins[w.policy_id()];
        let mut d = from_miette("cedar-warning", o.file, o.text, o.offset, w);
        d.severity = model::Severity::Warning;
        diags.push(d);
    }
}

/// Every inventory entity a policy names must exist: a typo such as `Team::"paymnets"` would
/// otherwise make the policy silently never apply.
fn check_references(
    records: &[entities::Record],
    policies: &[Policy],
    origins: &HashMap<PolicyId, Origin<'_>>,
    diags: &mut Vec<Diagnostic>,
) {
    let known: BTreeSet<&EntityUid> = records.iter().map(|r| &r.uid).collect();
    for p in policies {
        let mut refs: Vec<EntityUid> = Vec::new();
        match p.principal_constraint() {
            PrincipalConstraint::Eq(e)
            | PrincipalConstraint::In(e)
            | PrincipalConstraint::IsIn(_, e) => refs.push(e),
            _ => {}
        }
        match p.resource_constraint() {
            ResourceConstraint::Eq(e)
            | ResourceConstraint::In(e)
            | ResourceConstraint::IsIn(_, e) => refs.push(e),
            _ => {}
        }
        if let Ok(json) = p.to_json() {
            collect_entity_literals(&json, &mut refs);
        }
        let o = &origins[p.id()];
        let mut reported = BTreeSet::new();
        for uid in refs {
            let ty = uid.type_name().to_string();
            if !INVENTORY_TYPES.contains(&ty.as_str())
                || known.contains(&uid)
                || !reported.insert(uid.clone())
            {
                continue;
            }
            let id = uid.id().unescaped().to_owned();
            let quoted = format!("\"{id}\"");
            let at = o
                .stmt
                .find(&format!("{ty}::{quoted}"))
                .or_else(|| o.stmt.find(&quoted))
                .unwrap_or(0);
            let candidates = known
                .iter()
                .filter(|k| k.type_name() == uid.type_name())
                .map(|k| k.id().unescaped().to_owned());
            let mut d = Diagnostic::error(
                "unknown-entity",
                location(o.file, o.text, o.offset + at),
                format!(
                    "policy `{}` refers to `{ty}::{quoted}`, which is not in the inventory",
                    p.id()
                ),
            );
            d = match closest(&id, candidates) {
                Some(best) => d.with_hint(format!("did you mean `{ty}::\"{best}\"`?")),
                None => d.with_hint(format!("add `{id}` to the inventory or fix the reference")),
            };
            diags.push(d);
        }
    }
}

fn collect_entity_literals(v: &serde_json::Value, out: &mut Vec<EntityUid>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(uid) = map
                .get("__entity")
                .and_then(|e| EntityUid::from_json(e.clone()).ok())
            {
                out.push(uid);
            }
            map.values().for_each(|x| collect_entity_literals(x, out));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|x| collect_entity_literals(x, out))
        }
        _ => {}
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn closest(word: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(word, &c), c))
        .filter(|(d, c)| *d <= c.chars().count().max(word.chars().count()).div_ceil(3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
