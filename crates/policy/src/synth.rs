//! Synthetic inventories, policy sets and requests of a chosen size, for benchmarks and tests.

use model::{
    AiTool, Application, DataClassification, DecisionRequest, FindingSummary, Hosting, Inventory,
    Model, Person, PromptContext, RolloutStage, Team, ToolStatus, Vendor,
};

use crate::PolicySource;

/// Deterministic xorshift, so workloads are the same on every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub const TEAMS: usize = 100;
pub const APPS: usize = 500;
pub const REPOS_PER_APP: usize = 4;
pub const PEOPLE: usize = 7000;
pub const TOOLS: usize = 10;
pub const MODELS: usize = 10;

/// An inventory of about 10,000 entities: 100 teams, 7,000 people, 500 applications with
/// 2,000 repositories and 1,000 environments, tools, models and vendors.
pub fn inventory() -> Inventory {
    let mut inv = Inventory::default();
    let stages = RolloutStage::ALL;
    let classes = DataClassification::ALL;
    for v in 0..3 {
        let id = format!("vendor-{v}");
        inv.vendors.insert(
            id.clone(),
            Vendor {
                id,
                name: format!("Vendor {v}"),
                auditability: 3,
                data_retention: 3,
                support_maturity: 3,
                score: 70,
                review_date: None,
            },
        );
    }
    for t in 0..TEAMS {
        let id = format!("team-{t}");
        inv.teams.insert(
            id.clone(),
            Team {
                id,
                name: format!("Team {t}"),
                owner: Some(format!("p-{t}")),
                members: Vec::new(),
                stage: stages[t % 3],
            },
        );
    }
    for p in 0..PEOPLE {
        let id = format!("p-{p}");
        let training_completed = (p % 10 != 0).then(|| "2026-01-01".to_owned());
        inv.people.insert(
            id.clone(),
            Person {
                id,
                name: format!("Person {p}"),
                email: None,
                team: Some(format!("team-{}", p % TEAMS)),
                role: "developer".into(),
                training_completed,
                github: None,
                gitlab: None,
            },
        );
    }
    for a in 0..APPS {
        let id = format!("app-{a}");
        let repositories = (0..REPOS_PER_APP)
            .map(|r| format!("org/app-{a}-r{r}"))
            .collect();
        inv.applications.insert(
            id.clone(),
            Application {
                id,
                name: format!("App {a}"),
                owner: Some(model::Owner::Team(format!("team-{}", a % TEAMS))),
                repositories,
                classification: classes[a % 4],
                compliance: if a % 5 == 0 {
                    vec!["pci".into()]
                } else {
                    Vec::new()
                },
                environments: vec!["staging".into(), "production".into()],
            },
        );
    }
    let statuses = [ToolStatus::Approved, ToolStatus::Pilot, ToolStatus::Denied];
    for t in 0..TOOLS {
        let id = format!("tool-{t}");
        inv.tools.insert(
            id.clone(),
            AiTool {
                id,
                name: format!("Tool {t}"),
                vendor: format!("vendor-{}", t % 3),
                status: statuses[t % 3],
            },
        );
    }
    for m in 0..MODELS {
        let id = format!("model-{m}");
        let hosting = if m % 2 == 0 {
            Hosting::SelfHosted
        } else {
            Hosting::VendorCloud
        };
        inv.models.insert(
            id.clone(),
            Model {
                id,
                provider: "p".into(),
                vendor: Some(format!("vendor-{}", m % 3)),
                hosting,
                retention_days: Some(0),
                zero_data_retention: m % 3 == 0,
            },
        );
    }
    inv
}

/// The example bundle's kind of generic rules, then per-application and per-team rules up to
/// `n` policies, spread over all three actions.
pub fn policies(n: usize) -> Vec<PolicySource> {
    let generic = [
        r#"permit (principal, action == Action::"SendPrompt", resource);"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) unless { principal.training_completed };"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) when { context.tool.status == ToolStatus::"denied" };"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) when { context.tool.status == ToolStatus::"pilot" && principal.team.stage != Stage::"pilot" };"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) when { resource.classification == Classification::"restricted" && context.model.hosting != Hosting::"self-hosted" };"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) when { context.findings.secrets > 0 };"#,
        r#"permit (principal, action == Action::"MergeChange", resource);"#,
        r#"forbid (principal, action == Action::"MergeChange", resource) unless { context.change.tests_passed };"#,
        r#"permit (principal, action == Action::"Deploy", resource) when { context.authorized || context.break_glass };"#,
        r#"forbid (principal, action == Action::"SendPrompt", resource) when { context.budget.exceeded };"#,
    ];
    let mut text = String::new();
    for i in 0..n {
        let body = if i < generic.len() {
            generic[i].to_owned()
        } else {
            // Spread evenly: each kind of scoped policy cycles through all teams and apps.
            let app = (i / 4) % APPS;
            let team = (i / 4) % TEAMS;
            match i % 4 {
                0 => format!(
                    r#"forbid (principal, action == Action::"SendPrompt", resource in Application::"app-{app}") unless {{ principal in Team::"team-{team}" }};"#
                ),
                1 => format!(
                    r#"forbid (principal in Team::"team-{team}", action == Action::"SendPrompt", resource) when {{ context.model.hosting == Hosting::"vendor-cloud" && context.token_estimate > {} }};"#,
                    1000 + i
                ),
                2 => format!(
                    r#"forbid (principal, action == Action::"MergeChange", resource in Application::"app-{app}") when {{ context.change.approvals < 2 }};"#
                ),
                _ => format!(
                    r#"forbid (principal, action == Action::"Deploy", resource in Application::"app-{app}") unless {{ principal in Team::"team-{team}" }};"#
                ),
            }
        };
        text.push_str(&format!(
            "@id(\"p{i}\")\n@reason(\"synthetic policy {i}\")\n{body}\n\n"
        ));
    }
    vec![PolicySource {
        path: "policy/synthetic.cedar".into(),
        text,
    }]
}

/// Gateway requests from random people, repositories, tools and models.
pub fn prompt_requests(rng: &mut Rng, count: usize) -> Vec<DecisionRequest> {
    (0..count)
        .map(|_| DecisionRequest::SendPrompt {
            principal: format!("p-{}", rng.below(PEOPLE)),
            resource: format!("org/app-{}-r{}", rng.below(APPS), rng.below(REPOS_PER_APP)),
            context: PromptContext {
                tool: format!("tool-{}", rng.below(TOOLS)),
                model: format!("model-{}", rng.below(MODELS)),
                findings: FindingSummary {
                    secrets: (rng.below(20) == 0) as u64,
                    ..FindingSummary::default()
                },
                token_estimate: rng.below(4000) as u64,
                budget: Default::default(),
            },
        })
        .collect()
}
