//! Reads `inventory/**/*.yaml` (aigov's own format and Backstage `catalog-info.yaml`) into an
//! [`Inventory`], cross-checking every reference and reporting problems with file and line.

use std::collections::BTreeMap;

use marked_yaml::Spanned;
use model::{
    AiTool, Application, DataClassification, Diagnostic, Hosting, Inventory, Location, Model,
    Owner, Person, RolloutStage, Team, ToolStatus, Vendor,
};
use serde::Deserialize;

use crate::yaml::{YamlFile, is_date};

type S = Spanned<String>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    teams: Vec<RawTeam>,
    #[serde(default)]
    people: Vec<RawPerson>,
    #[serde(default)]
    applications: Vec<RawApplication>,
    #[serde(default)]
    tools: Vec<RawTool>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    vendors: Vec<RawVendor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    id: S,
    name: Option<String>,
    owner: Option<S>,
    #[serde(default)]
    members: Vec<S>,
    stage: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    id: S,
    name: Option<String>,
    email: Option<String>,
    team: Option<S>,
    #[serde(default = "default_role")]
    role: String,
    training_completed: Option<S>,
    github: Option<String>,
    gitlab: Option<String>,
}

fn default_role() -> String {
    "developer".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    id: S,
    name: Option<String>,
    owner: Option<S>,
    #[serde(default)]
    repositories: Vec<S>,
    classification: S,
    #[serde(default)]
    compliance: Vec<S>,
    #[serde(default)]
    environments: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    id: S,
    name: Option<String>,
    vendor: S,
    status: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: S,
    provider: String,
    vendor: Option<S>,
    hosting: S,
    retention_days: Option<u32>,
    #[serde(default)]
    zero_data_retention: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    id: S,
    name: Option<String>,
    #[serde(default)]
    evaluation: RawEvaluation,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEvaluation {
    #[serde(default)]
    auditability: u8,
    #[serde(default)]
    data_retention: u8,
    #[serde(default)]
    support_maturity: u8,
    #[serde(default)]
    score: u8,
    review_date: Option<S>,
}

/// A Backstage catalog entity; only `kind: Component` becomes an application.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackstageEntity {
    kind: S,
    metadata: BackstageMetadata,
    #[serde(default)]
    spec: BackstageSpec,
}

#[derive(Deserialize)]
struct BackstageMetadata {
    name: S,
    title: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, S>,
}

#[derive(Deserialize, Default)]
struct BackstageSpec {
    owner: Option<S>,
}

/// Backstage annotations aigov reads.
pub const ANNOTATION_CLASSIFICATION: &str = "aigov.dev/data-classification";
pub const ANNOTATION_COMPLIANCE: &str = "aigov.dev/compliance";
pub const ANNOTATION_ENVIRONMENTS: &str = "aigov.dev/environments";
pub const ANNOTATION_REPOSITORY: &str = "github.com/project-slug";

/// Where each record was defined, for cross-reference errors.
#[derive(Default)]
struct Origins {
    teams: BTreeMap<String, Location>,
    people: BTreeMap<String, Location>,
    applications: BTreeMap<String, Location>,
    tools: BTreeMap<String, Location>,
    models: BTreeMap<String, Location>,
    vendors: BTreeMap<String, Location>,
}

/// A reference still to be resolved: which field, where, to what.
struct Ref {
    at: Location,
    field: &'static str,
    target: String,
}

#[derive(Default)]
pub(crate) struct Reader {
    inv: Inventory,
    origins: Origins,
    diags: Vec<Diagnostic>,
    team_refs: Vec<Ref>,
    person_refs: Vec<Ref>,
    vendor_refs: Vec<Ref>,
    owner_refs: Vec<(String, Ref)>,
    repo_origin: BTreeMap<String, (String, Location)>,
}

fn insert<T>(
    map: &mut BTreeMap<String, T>,
    origins: &mut BTreeMap<String, Location>,
    diags: &mut Vec<Diagnostic>,
    kind: &str,
    id: &str,
    at: Location,
    value: T,
) {
    if id.trim().is_empty() {
        diags.push(Diagnostic::error(
            "empty-id",
            at,
            format!("{kind} has an empty `id`"),
        ));
        return;
    }
    if let Some(first) = origins.get(id) {
        diags.push(
            Diagnostic::error(
                "duplicate-id",
                at,
                format!("{kind} `{id}` is defined twice"),
            )
            .with_hint(format!("the first definition is at {first}")),
        );
        return;
    }
    origins.insert(id.to_owned(), at);
    map.insert(id.to_owned(), value);
}

fn name_or_id(name: Option<String>, id: &str) -> String {
    name.unwrap_or_else(|| id.to_owned())
}

impl Reader {
    /// Reads one YAML file (one or more documents).
    pub(crate) fn read(&mut self, file: &YamlFile<'_>) {
        for (line, doc) in file.documents() {
            let node = match file.parse(line, &doc) {
                Ok(n) => n,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let is_backstage = node
                .as_mapping()
                .is_some_and(|m| m.get_node("apiVersion").is_some());
            let result = if is_backstage {
                file.typed::<BackstageEntity>(&node, "Backstage entity")
                    .map(|e| self.backstage(file, e))
            } else {
                file.typed::<RawFile>(&node, "inventory file")
                    .map(|r| self.raw(file, r))
            };
            if let Err(d) = result {
                self.diags.push(d);
            }
        }
    }

    fn raw(&mut self, f: &YamlFile<'_>, raw: RawFile) {
        let d = &mut self.diags;
        for t in raw.teams {
            let at = f.at(t.id.span());
            // An invalid value is reported; the record stays so references to it still resolve.
            let stage = f
                .parse_value("stage", &t.stage, d)
                .unwrap_or(RolloutStage::Pilot);
            if let Some(o) = &t.owner {
                self.person_refs.push(Ref {
                    at: f.at(o.span()),
                    field: "owner",
                    target: o.to_string(),
                });
            }
            for m in &t.members {
                self.person_refs.push(Ref {
                    at: f.at(m.span()),
                    field: "members",
                    target: m.to_string(),
                });
            }
            let team = Team {
                id: t.id.to_string(),
                name: name_or_id(t.name, &t.id),
                owner: t.owner.map(|o| o.to_string()),
                members: t.members.iter().map(|m| m.to_string()).collect(),
                stage,
            };
            insert(
                &mut self.inv.teams,
                &mut self.origins.teams,
                d,
                "team",
                &t.id,
                at,
                team,
            );
        }
        for p in raw.people {
            let at = f.at(p.id.span());
            if let Some(t) = &p.team {
                self.team_refs.push(Ref {
                    at: f.at(t.span()),
                    field: "team",
                    target: t.to_string(),
                });
            }
            if let Some(date) = &p.training_completed
                && !is_date(date)
            {
                d.push(
                    Diagnostic::error(
                        "invalid-date",
                        f.at(date.span()),
                        format!("`training_completed` is `{}`, not a date", date.as_str()),
                    )
                    .with_hint("write the date as YYYY-MM-DD, e.g. 2026-03-01"),
                );
            }
            let person = Person {
                id: p.id.to_string(),
                name: name_or_id(p.name, &p.id),
                email: p.email,
                team: p.team.map(|t| t.to_string()),
                role: p.role,
                training_completed: p.training_completed.map(|t| t.to_string()),
                github: p.github,
                gitlab: p.gitlab,
            };
            insert(
                &mut self.inv.people,
                &mut self.origins.people,
                d,
                "person",
                &p.id,
                at,
                person,
            );
        }
        for t in raw.tools {
            let at = f.at(t.id.span());
            let status = f
                .parse_value("status", &t.status, d)
                .unwrap_or(ToolStatus::Denied);
            self.vendor_refs.push(Ref {
                at: f.at(t.vendor.span()),
                field: "vendor",
                target: t.vendor.to_string(),
            });
            let tool = AiTool {
                id: t.id.to_string(),
                name: name_or_id(t.name, &t.id),
                vendor: t.vendor.to_string(),
                status,
            };
            insert(
                &mut self.inv.tools,
                &mut self.origins.tools,
                d,
                "tool",
                &t.id,
                at,
                tool,
            );
        }
        for m in raw.models {
            let at = f.at(m.id.span());
            let hosting = f
                .parse_value("hosting", &m.hosting, d)
                .unwrap_or(Hosting::VendorCloud);
            if let Some(v) = &m.vendor {
                self.vendor_refs.push(Ref {
                    at: f.at(v.span()),
                    field: "vendor",
                    target: v.to_string(),
                });
            }
            let model = Model {
                id: m.id.to_string(),
                provider: m.provider,
                vendor: m.vendor.map(|v| v.to_string()),
                hosting,
                retention_days: m.retention_days,
                zero_data_retention: m.zero_data_retention,
            };
            insert(
                &mut self.inv.models,
                &mut self.origins.models,
                d,
                "model",
                &m.id,
                at,
                model,
            );
        }
        for v in raw.vendors {
            let at = f.at(v.id.span());
            let e = v.evaluation;
            if let Some(date) = &e.review_date
                && !is_date(date)
            {
                d.push(
                    Diagnostic::error(
                        "invalid-date",
                        f.at(date.span()),
                        format!("`review_date` is `{}`, not a date", date.as_str()),
                    )
                    .with_hint("write the date as YYYY-MM-DD"),
                );
            }
            for (field, value, max) in [
                ("auditability", e.auditability, 5),
                ("data_retention", e.data_retention, 5),
                ("support_maturity", e.support_maturity, 5),
                ("score", e.score, 100),
            ] {
                if value > max {
                    d.push(Diagnostic::error(
                        "invalid-value",
                        at.clone(),
                        format!(
                            "vendor `{}`: `{field}` is {value}, above the maximum {max}",
                            v.id.as_str()
                        ),
                    ));
                }
            }
            let vendor = Vendor {
                id: v.id.to_string(),
                name: name_or_id(v.name, &v.id),
                auditability: e.auditability,
                data_retention: e.data_retention,
                support_maturity: e.support_maturity,
                score: e.score,
                review_date: e.review_date.map(|r| r.to_string()),
            };
            insert(
                &mut self.inv.vendors,
                &mut self.origins.vendors,
                d,
                "vendor",
                &v.id,
                at,
                vendor,
            );
        }
        for a in raw.applications {
            let classification = f
                .parse_value("classification", &a.classification, &mut self.diags)
                .unwrap_or(DataClassification::Restricted);
            let app = RawApp {
                id: a.id,
                name: a.name,
                owner: a.owner,
                repositories: a.repositories,
                classification,
                compliance: a.compliance.iter().map(|c| c.to_string()).collect(),
                environments: a.environments,
            };
            self.application(f, app);
        }
    }

    fn backstage(&mut self, f: &YamlFile<'_>, e: BackstageEntity) {
        if e.kind.as_str() != "Component" {
            return; // Systems, APIs, Groups… are not applications.
        }
        let ann = &e.metadata.annotations;
        let split = |s: &S| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
        };
        let classification = match ann.get(ANNOTATION_CLASSIFICATION) {
            Some(c) => match f.parse_value::<DataClassification>(
                ANNOTATION_CLASSIFICATION,
                c,
                &mut self.diags,
            ) {
                Some(c) => c,
                None => DataClassification::Restricted,
            },
            None => {
                self.diags.push(
                    Diagnostic::warning("missing-classification", f.at(e.metadata.name.span()), format!("component `{}` has no `{ANNOTATION_CLASSIFICATION}` annotation; treated as `internal`", e.metadata.name.as_str()))
                        .with_hint(format!("add `{ANNOTATION_CLASSIFICATION}: public|internal|confidential|restricted` under metadata.annotations")),
                );
                DataClassification::Internal
            }
        };
        let repositories = ann
            .get(ANNOTATION_REPOSITORY)
            .map(|r| vec![r.clone()])
            .unwrap_or_default();
        let owner = e.spec.owner.map(|o| {
            // Backstage refs: `group:payments`, `user:default/alice`, `payments` (a group).
            let span = *o.span();
            let (kind, rest) = o
                .split_once(':')
                .map_or(("team", o.as_str()), |(k, r)| (k, r));
            let rest = rest.rsplit('/').next().unwrap_or(rest);
            let kind = if kind == "user" { "person" } else { "team" };
            Spanned::new(span, format!("{kind}:{rest}"))
        });
        let app = RawApp {
            id: e.metadata.name,
            name: e.metadata.title,
            owner,
            repositories,
            classification,
            compliance: ann
                .get(ANNOTATION_COMPLIANCE)
                .map(split)
                .unwrap_or_default(),
            environments: ann
                .get(ANNOTATION_ENVIRONMENTS)
                .map(split)
                .unwrap_or_default(),
        };
        self.application(f, app);
    }

    fn application(&mut self, f: &YamlFile<'_>, a: RawApp) {
        let at = f.at(a.id.span());
        match &a.owner {
            None => self.diags.push(
                Diagnostic::error("missing-owner", at.clone(), format!("application `{}` has no owner", a.id.as_str()))
                    .with_hint("every application needs an accountable owner: add `owner: <team-or-person-id>`"),
            ),
            Some(o) => self.owner_refs.push((a.id.to_string(), Ref { at: f.at(o.span()), field: "owner", target: o.to_string() })),
        }
        if a.repositories.is_empty() {
            self.diags.push(Diagnostic::warning("no-repositories", at.clone(), format!("application `{}` lists no repositories; no gateway or gate request can name it", a.id.as_str())));
        }
        for r in &a.repositories {
            let rat = f.at(r.span());
            if !r.contains('/') {
                self.diags.push(Diagnostic::error(
                    "invalid-repository",
                    rat.clone(),
                    format!("repository `{}` is not of the form `org/name`", r.as_str()),
                ));
            }
            if let Some((other, first)) = self.repo_origin.get(r.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-repository",
                        rat,
                        format!(
                            "repository `{}` belongs to both `{other}` and `{}`",
                            r.as_str(),
                            a.id.as_str()
                        ),
                    )
                    .with_hint(format!(
                        "a repository belongs to one application; the other is at {first}"
                    )),
                );
            } else {
                self.repo_origin
                    .insert(r.to_string(), (a.id.to_string(), rat));
            }
        }
        let app = Application {
            id: a.id.to_string(),
            name: name_or_id(a.name, &a.id),
            owner: None, // resolved in `finish` once every team and person is known
            repositories: a.repositories.iter().map(|r| r.to_string()).collect(),
            classification: a.classification,
            compliance: a.compliance,
            environments: a.environments,
        };
        insert(
            &mut self.inv.applications,
            &mut self.origins.applications,
            &mut self.diags,
            "application",
            &a.id,
            at,
            app,
        );
    }

    /// Resolves references; returns the inventory and every diagnostic.
    pub(crate) fn finish(mut self) -> (Inventory, Vec<Diagnostic>) {
        let inv = &mut self.inv;
        let d = &mut self.diags;
        for r in &self.team_refs {
            unknown(d, r, "team", inv.teams.keys());
        }
        for r in &self.person_refs {
            unknown(d, r, "person", inv.people.keys());
        }
        for r in &self.vendor_refs {
            unknown(d, r, "vendor", inv.vendors.keys());
        }
        for (app, r) in &self.owner_refs {
            let (kind, id) = match r.target.split_once(':') {
                Some(("team", id)) => (Some("team"), id),
                Some(("person", id)) => (Some("person"), id),
                _ => (None, r.target.as_str()),
            };
            let owner = match kind {
                Some("team") => inv
                    .teams
                    .contains_key(id)
                    .then(|| Owner::Team(id.to_owned())),
                Some(_) => inv
                    .people
                    .contains_key(id)
                    .then(|| Owner::Person(id.to_owned())),
                None if inv.teams.contains_key(id) => Some(Owner::Team(id.to_owned())),
                None => inv
                    .people
                    .contains_key(id)
                    .then(|| Owner::Person(id.to_owned())),
            };
            match owner {
                Some(o) => {
                    if let Some(a) = inv.applications.get_mut(app) {
                        a.owner = Some(o);
                    }
                }
                None => {
                    let r = Ref {
                        at: r.at.clone(),
                        field: r.field,
                        target: id.to_owned(),
                    };
                    unknown(
                        d,
                        &r,
                        "team or person",
                        inv.teams.keys().chain(inv.people.keys()),
                    );
                }
            }
        }
        for (id, at) in &self.origins.people {
            if inv.teams_of(id).is_empty() {
                d.push(
                    Diagnostic::error("person-without-team", at.clone(), format!("person `{id}` is in no team"))
                        .with_hint("add `team: <team-id>` to the person, or list them under a team's `members`"),
                );
            }
        }
        (self.inv, self.diags)
    }
}

struct RawApp {
    id: S,
    name: Option<String>,
    owner: Option<S>,
    repositories: Vec<S>,
    classification: DataClassification,
    compliance: Vec<String>,
    environments: Vec<String>,
}

fn unknown<'a>(
    d: &mut Vec<Diagnostic>,
    r: &Ref,
    kind: &str,
    known: impl Iterator<Item = &'a String> + Clone,
) {
    if known.clone().any(|k| *k == r.target) {
        return;
    }
    let mut diag = Diagnostic::error(
        &format!("unknown-{}", kind.replace(' ', "-")),
        r.at.clone(),
        format!(
            "`{}` refers to {kind} `{}`, which is not defined",
            r.field, r.target
        ),
    );
    diag = match policy_closest(&r.target, known.cloned()) {
        Some(best) => diag.with_hint(format!("did you mean `{best}`?")),
        None => diag.with_hint(format!(
            "define {kind} `{}` in the inventory, or fix the reference",
            r.target
        )),
    };
    d.push(diag);
}

fn policy_closest(word: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    policy::closest(word, candidates)
}
