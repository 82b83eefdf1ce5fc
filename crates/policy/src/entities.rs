//! Turns the inventory into Cedar entities, and decision requests into Cedar requests.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression as Rx,
};
use model::{Action, ChangeFacts, DecisionRequest, Inventory};

use crate::value::Value;

/// Pre-parsed entity type names, so requests don't parse type names on the hot path.
#[derive(Debug, Clone)]
pub(crate) struct Types {
    pub(crate) person: EntityTypeName,
    pub(crate) team: EntityTypeName,
    pub(crate) vendor: EntityTypeName,
    pub(crate) tool: EntityTypeName,
    pub(crate) model: EntityTypeName,
    pub(crate) application: EntityTypeName,
    pub(crate) repository: EntityTypeName,
    pub(crate) environment: EntityTypeName,
    pub(crate) action: EntityTypeName,
    pub(crate) stage: EntityTypeName,
    pub(crate) classification: EntityTypeName,
    pub(crate) tool_status: EntityTypeName,
    pub(crate) hosting: EntityTypeName,
}

impl Types {
    pub(crate) fn new() -> Types {
        let t = |s: &str| EntityTypeName::from_str(s).expect("built-in type names are valid");
        Types {
            person: t("Person"),
            team: t("Team"),
            vendor: t("Vendor"),
            tool: t("Tool"),
            model: t("Model"),
            application: t("Application"),
            repository: t("Repository"),
            environment: t("Environment"),
            action: t("Action"),
            stage: t("Stage"),
            classification: t("Classification"),
            tool_status: t("ToolStatus"),
            hosting: t("Hosting"),
        }
    }

    pub(crate) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    pub(crate) fn action(&self, action: Action) -> EntityUid {
        Types::uid(&self.action, action.as_str())
    }

    pub(crate) fn resource_type(&self, action: Action) -> &EntityTypeName {
        match action {
            Action::SendPrompt | Action::MergeChange => &self.repository,
            Action::Deploy => &self.environment,
        }
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn long(v: u64) -> Value {
    Value::long(v)
}

fn strings<'a>(v: impl IntoIterator<Item = &'a String>) -> Value {
    Value::strings(v)
}

/// An inventory entity before it becomes a Cedar entity or a native one.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) uid: EntityUid,
    pub(crate) attrs: Vec<(&'static str, Value)>,
    pub(crate) parents: HashSet<EntityUid>,
}

fn entity(
    uid: EntityUid,
    attrs: Vec<(&'static str, Value)>,
    parents: HashSet<EntityUid>,
) -> Record {
    Record {
        uid,
        attrs,
        parents,
    }
}

impl Record {
    pub(crate) fn to_cedar(&self) -> Entity {
        let attrs: HashMap<String, Rx> = self
            .attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_cedar()))
            .collect();
        Entity::new(self.uid.clone(), attrs, self.parents.clone())
            .expect("attribute names are unique")
    }
}

/// All inventory records, to become Cedar (and native) entities. Assumes a cross-checked inventory (the bundle
/// validates references before this is called); a dangling reference makes Cedar's schema
/// check fail, which the caller reports.
pub(crate) fn inventory_entities(t: &Types, inv: &Inventory) -> Vec<Record> {
    let mut out = Vec::new();
    for v in inv.vendors.values() {
        out.push(entity(
            Types::uid(&t.vendor, &v.id),
            vec![
                ("name", s(&v.name)),
                ("score", long(v.score.into())),
                ("auditability", long(v.auditability.into())),
                ("data_retention", long(v.data_retention.into())),
                ("support_maturity", long(v.support_maturity.into())),
            ],
            HashSet::new(),
        ));
    }
    for tm in inv.teams.values() {
        let mut attrs = vec![
            ("name", s(&tm.name)),
            (
                "stage",
                Value::Entity(Types::uid(&t.stage, tm.stage.as_str())),
            ),
        ];
        if let Some(owner) = &tm.owner {
            attrs.push(("owner", Value::Entity(Types::uid(&t.person, owner))));
        }
        out.push(entity(Types::uid(&t.team, &tm.id), attrs, HashSet::new()));
    }
    for p in inv.people.values() {
        let teams = inv.teams_of(&p.id);
        let parents: HashSet<EntityUid> = teams.iter().map(|id| Types::uid(&t.team, id)).collect();
        let primary = teams.first().copied().unwrap_or_default();
        let mut attrs = vec![
            ("name", s(&p.name)),
            ("role", s(&p.role)),
            ("team", Value::Entity(Types::uid(&t.team, primary))),
            (
                "training_completed",
                Value::Bool(p.training_completed.is_some()),
            ),
        ];
        if let Some(d) = &p.training_completed {
            attrs.push(("training_date", s(d)));
        }
        if let Some(e) = &p.email {
            attrs.push(("email", s(e)));
        }
        out.push(entity(Types::uid(&t.person, &p.id), attrs, parents));
    }
    for tool in inv.tools.values() {
        out.push(entity(
            Types::uid(&t.tool, &tool.id),
            vec![
                ("name", s(&tool.name)),
                ("vendor", Value::Entity(Types::uid(&t.vendor, &tool.vendor))),
                (
                    "status",
                    Value::Entity(Types::uid(&t.tool_status, tool.status.as_str())),
                ),
            ],
            HashSet::new(),
        ));
    }
    for m in inv.models.values() {
        let mut attrs = vec![
            ("provider", s(&m.provider)),
            (
                "hosting",
                Value::Entity(Types::uid(&t.hosting, m.hosting.as_str())),
            ),
            ("zero_data_retention", Value::Bool(m.zero_data_retention)),
        ];
        if let Some(days) = m.retention_days {
            attrs.push(("retention_days", long(days.into())));
        }
        if let Some(v) = &m.vendor {
            attrs.push(("vendor", Value::Entity(Types::uid(&t.vendor, v))));
        }
        out.push(entity(Types::uid(&t.model, &m.id), attrs, HashSet::new()));
    }
    for a in inv.applications.values() {
        let app_uid = Types::uid(&t.application, &a.id);
        let class = || Value::Entity(Types::uid(&t.classification, a.classification.as_str()));
        out.push(entity(
            app_uid.clone(),
            vec![
                ("name", s(&a.name)),
                ("owner", s(a.owner.as_ref().map_or("", |o| o.id()))),
                ("classification", class()),
                ("compliance", strings(&a.compliance)),
            ],
            HashSet::new(),
        ));
        for repo in &a.repositories {
            out.push(entity(
                Types::uid(&t.repository, repo),
                vec![
                    ("name", s(repo)),
                    ("application", Value::Entity(app_uid.clone())),
                    ("classification", class()),
                    ("compliance", strings(&a.compliance)),
                ],
                HashSet::from([app_uid.clone()]),
            ));
        }
        for env in &a.environments {
            out.push(entity(
                Types::uid(&t.environment, &format!("{}/{env}", a.id)),
                vec![
                    ("name", s(env)),
                    ("application", Value::Entity(app_uid.clone())),
                    ("classification", class()),
                    ("compliance", strings(&a.compliance)),
                    ("production", Value::Bool(is_production(env))),
                ],
                HashSet::from([app_uid.clone()]),
            ));
        }
    }
    out
}

/// Environments named like production count as production.
pub fn is_production(env: &str) -> bool {
    matches!(env, "production" | "prod" | "live") || env.starts_with("prod-")
}

fn change(c: &ChangeFacts) -> Value {
    record(vec![
        ("ai_assisted", Value::Bool(c.ai_assisted)),
        ("ai_tools", strings(&c.ai_tools)),
        ("approvals", long(c.approvals)),
        ("checklist_complete", Value::Bool(c.checklist_complete)),
        ("security_scan_passed", Value::Bool(c.security_scan_passed)),
        ("high_findings", long(c.high_findings)),
        ("tests_passed", Value::Bool(c.tests_passed)),
        ("secret_findings", long(c.secret_findings)),
    ])
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::record(fields)
}

/// The entities a request names in its context (tool, model), for existence checks.
pub(crate) fn context_entities(t: &Types, req: &DecisionRequest) -> Vec<(&'static str, EntityUid)> {
    match req {
        DecisionRequest::SendPrompt { context, .. } => vec![
            ("tool", Types::uid(&t.tool, &context.tool)),
            ("model", Types::uid(&t.model, &context.model)),
        ],
        _ => Vec::new(),
    }
}

/// The request's context as a record value, in the shape of the shipped schema.
pub(crate) fn context_value(t: &Types, req: &DecisionRequest) -> Value {
    let fields = match req {
        DecisionRequest::SendPrompt { context: c, .. } => vec![
            ("tool", Value::Entity(Types::uid(&t.tool, &c.tool))),
            ("model", Value::Entity(Types::uid(&t.model, &c.model))),
            (
                "findings",
                record(vec![
                    ("secrets", long(c.findings.secrets)),
                    ("pii", long(c.findings.pii)),
                    ("secret_types", strings(&c.findings.secret_types)),
                    ("pii_types", strings(&c.findings.pii_types)),
                ]),
            ),
            ("token_estimate", long(c.token_estimate)),
            (
                "budget",
                record(vec![
                    ("exceeded", Value::Bool(c.budget.exceeded)),
                    ("spent_cents", long(c.budget.spent_cents)),
                    ("limit_cents", long(c.budget.limit_cents)),
                    ("name", Value::str(&c.budget.name)),
                    ("used_percent", long(c.budget.used_percent)),
                ]),
            ),
        ],
        DecisionRequest::MergeChange { context: c, .. } => vec![("change", change(&c.change))],
        DecisionRequest::Deploy { context: c, .. } => vec![
            ("change", change(&c.change)),
            ("authorized", Value::Bool(c.authorized)),
            ("break_glass", Value::Bool(c.break_glass)),
        ],
    };
    record(fields)
}

/// The Cedar request for a decision request. Context shape follows the shipped schema; a test
/// checks it against the schema, so the hot path skips request validation.
pub(crate) fn cedar_request(
    t: &Types,
    principal: EntityUid,
    resource: EntityUid,
    action: Action,
    context: &Value,
) -> Request {
    let Value::Record(fields) = context else {
        unreachable!("contexts are records")
    };
    let context = Context::from_pairs(fields.iter().map(|(k, v)| (k.clone(), v.to_cedar())))
        .expect("context keys are unique");
    Request::new(principal, t.action(action), resource, context, None)
        .expect("requests without a schema always build")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::{Schema, SchemaFragment};
    use model::{DeployContext, MergeContext, PromptContext};

    /// The hot path builds requests without schema validation; this checks they conform.
    #[test]
    fn requests_conform_to_the_shipped_schema() {
        let (fragment, _) = SchemaFragment::from_cedarschema_str(crate::SCHEMA).unwrap();
        let schema = Schema::from_schema_fragments([fragment]).unwrap();
        let t = Types::new();
        let requests = [
            DecisionRequest::SendPrompt {
                principal: "a".into(),
                resource: "o/r".into(),
                context: PromptContext::default(),
            },
            DecisionRequest::MergeChange {
                principal: "a".into(),
                resource: "o/r".into(),
                context: MergeContext::default(),
            },
            DecisionRequest::Deploy {
                principal: "a".into(),
                resource: "app/prod".into(),
                context: DeployContext::default(),
            },
        ];
        for req in &requests {
            let action = req.action();
            let p = Types::uid(&t.person, req.principal());
            let r = Types::uid(t.resource_type(action), req.resource());
            let built = cedar_request(&t, p.clone(), r.clone(), action, &context_value(&t, req));
            let ctx = built.context().unwrap().clone();
            Request::new(p, t.action(action), r, ctx, Some(&schema))
                .unwrap_or_else(|e| panic!("{action}: {e}"));
        }
    }
}
