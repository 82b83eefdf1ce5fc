//! Change management and release gates, without IO: is a webhook delivery authentic
//! ([`webhook`]), what does it say happened ([`github`], [`gitlab`] → [`ChangeEvent`]), which AI
//! tools wrote a commit ([`attribution`], [`gitai`]), and what are the facts of a pull request
//! that decision points 2 (`MergeChange`) and 3 (`Deploy`) decide on ([`record`] →
//! [`model::ChangeFacts`]).
//!
//! ```text
//! webhook::verify_github_signature(secret, body, headers.get("X-Hub-Signature-256"))?;
//! let delivery = github::parse(event_header, delivery_header, body)?;
//! record.apply(&delivery.event);                       // the record of the PR it concerns
//! let facts = record.facts(&checklist, &gate_checks);  // → MergeContext { change: facts }
//! ```

pub mod attribution;
mod event;
pub mod gitai;
pub mod github;
pub mod gitlab;
pub mod record;
pub mod webhook;

pub use attribution::{Attribution, Commit, Evidence, ShadowAi, ShadowReason};
pub use event::{
    ChangeEvent, Check, CheckKind, Delivery, Deployment, DeploymentStatus, Forge, Job, ParseError,
    Pipeline, ProtectionRule, PullRequest, PullRequestAction, Push, PushCommit, Review,
    ReviewAction, ReviewState, Status, Verdict,
};
pub use record::{ChangeRecord, GateChecks, GateRecord};
pub use webhook::SignatureError;
