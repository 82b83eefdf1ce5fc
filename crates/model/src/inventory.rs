//! The organisation's inventory: teams, people, applications, AI tools, models, vendors.
//!
//! Loaded from the governance bundle by the `bundle` crate and turned into Cedar entities by the
//! `policy` crate. Ids are the bundle's own (`payments`, `alice`, `claude-code`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every kind of record, keyed by id. `BTreeMap`s keep output and entity order deterministic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub teams: BTreeMap<String, Team>,
    pub people: BTreeMap<String, Person>,
    pub applications: BTreeMap<String, Application>,
    pub tools: BTreeMap<String, AiTool>,
    pub models: BTreeMap<String, Model>,
    pub vendors: BTreeMap<String, Vendor>,
}

impl Inventory {
    /// The person whose `github` login (or `gitlab` username, for `gitlab`) is `login`
    /// (compared case-insensitively, as the forges do).
    pub fn person_by_login(&self, forge: &str, login: &str) -> Option<&Person> {
        self.people.values().find(|p| {
            let l = if forge == "gitlab" {
                &p.gitlab
            } else {
                &p.github
            };
            l.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(login))
        })
    }

    /// Teams a person belongs to: their own `team` plus every team that lists them as a member.
    pub fn teams_of(&self, person: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(t) = self.people.get(person).and_then(|p| p.team.as_ref()) {
            out.push(t);
        }
        for (id, team) in &self.teams {
            if team.members.iter().any(|m| m == person) && !out.contains(&id.as_str()) {
                out.push(id);
            }
        }
        out
    }

    /// The application that owns a repository (`org/name`), if any.
    pub fn application_of_repo(&self, repo: &str) -> Option<&Application> {
        self.applications
            .values()
            .find(|a| a.repositories.iter().any(|r| r == repo))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStage {
    Pilot,
    ControlledExpansion,
    Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataClassification {
    Public,
    Internal,
    Confidential,
    Restricted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolStatus {
    Approved,
    Pilot,
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hosting {
    VendorCloud,
    SelfHosted,
}

macro_rules! kebab_str {
    ($ty:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($ty::$variant),)*
                    _ => Err(format!(
                        "`{s}` is not one of {}",
                        [$($s),*].map(|v| format!("`{v}`")).join(", ")
                    )),
                }
            }
        }
    };
}

kebab_str!(RolloutStage { Pilot => "pilot", ControlledExpansion => "controlled-expansion", Scale => "scale" });
kebab_str!(DataClassification {
    Public => "public", Internal => "internal", Confidential => "confidential", Restricted => "restricted"
});
kebab_str!(ToolStatus { Approved => "approved", Pilot => "pilot", Denied => "denied" });
kebab_str!(Hosting { VendorCloud => "vendor-cloud", SelfHosted => "self-hosted" });

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// Person id of the team's owner.
    pub owner: Option<String>,
    /// Person ids listed as members in the team record (people also name their team).
    pub members: Vec<String>,
    pub stage: RolloutStage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// Primary team id.
    pub team: Option<String>,
    pub role: String,
    /// Date (`YYYY-MM-DD`) the AI-usage training was completed, if it was.
    pub training_completed: Option<String>,
    /// GitHub login, to recognise this person as a pull request's author or reviewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<String>,
    /// GitLab username, likewise for merge requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<String>,
}

/// Who owns an application: a team or a single person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "id")]
pub enum Owner {
    Team(String),
    Person(String),
}

impl Owner {
    pub fn id(&self) -> &str {
        match self {
            Owner::Team(id) | Owner::Person(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub owner: Option<Owner>,
    /// Repositories as `org/name`.
    pub repositories: Vec<String>,
    pub classification: DataClassification,
    /// Compliance scopes such as `soc2`, `pci`, `hipaa`, `iso27001`.
    pub compliance: Vec<String>,
    /// Deployment environments such as `staging`, `production`.
    pub environments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiTool {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub status: ToolStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: String,
    pub provider: String,
    pub vendor: Option<String>,
    pub hosting: Hosting,
    /// Days the provider retains prompts; `None` when unknown.
    pub retention_days: Option<u32>,
    pub zero_data_retention: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    /// Scores 0–5 from the vendor evaluation.
    pub auditability: u8,
    pub data_retention: u8,
    pub support_maturity: u8,
    /// Overall score 0–100.
    pub score: u8,
    /// Date (`YYYY-MM-DD`) of the last evaluation review.
    pub review_date: Option<String>,
}
