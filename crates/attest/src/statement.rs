//! The in-toto Statement v1 of a deployment authorization: one subject, the authorized git
//! commit (`digest.gitCommit`), and aigov's predicate (who authorized which deployment, until
//! when, on which change record and merge-gate decision). Parsed strictly: unknown fields are
//! refused and errors name the field.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// aigov's deployment-authorization predicate, version 1.
pub const PREDICATE_TYPE: &str = "https://aigov.dev/attestation/deploy-authorization/v1";

/// A statement that cannot be read or is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("invalid statement: at `{path}`: {message}")]
    Json { path: String, message: String },
    #[error("statement field `{field}` is invalid: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
}

fn field(field: &'static str, message: impl Into<String>) -> StatementError {
    StatementError::Field {
        field,
        message: message.into(),
    }
}

/// Whether `s` is a full git commit id: 40 lowercase hex digits.
pub fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A standard authorization or an emergency (break-glass) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Approved on a change record whose merge gate allowed the commit.
    Standard,
    /// An emergency deployment: a reason and a named approver, no gate; retro-reviewed later.
    BreakGlass,
}

impl Kind {
    /// `standard` or `break-glass`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Standard => "standard",
            Kind::BreakGlass => "break-glass",
        }
    }
}

/// The change record the authorization rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRef {
    /// `github` or `gitlab`.
    pub forge: String,
    /// `owner/name`.
    pub repo: String,
    /// Pull (merge) request number.
    pub number: u64,
    /// SHA-256 (hex) of the canonical JSON of the stored change record.
    pub record_sha256: String,
}

/// The merge-gate decision the authorization rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRef {
    /// `allow` (a standard authorization is only given on an allowing gate).
    pub outcome: String,
    pub reasons: Vec<String>,
    /// The ledger entry of the gate's decision.
    pub ledger_index: Option<u64>,
}

/// aigov's deploy-authorization predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// Inventory application id.
    pub app: String,
    /// One of the application's environments.
    pub environment: String,
    /// `owner/name` the commit belongs to (`None`: a break-glass deployment without a known
    /// change record).
    pub repository: Option<String>,
    /// The authorized commit (the subject's `gitCommit`).
    pub commit: String,
    /// Inventory person id of the approver.
    pub approver: String,
    #[serde(with = "time::serde::rfc3339")]
    pub authorized_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub kind: Kind,
    /// Why (required for break-glass).
    pub reason: Option<String>,
    /// Break-glass: when the retro-review is due.
    #[serde(with = "time::serde::rfc3339::option")]
    pub retro_review_due: Option<OffsetDateTime>,
    /// The change record (required for a standard authorization).
    pub change: Option<ChangeRef>,
    /// The merge gate's decision (required for a standard authorization).
    pub gate: Option<GateRef>,
}

/// One subject: the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// `<owner/name>@<commit>` (or `<app>@<commit>` without a repository).
    pub name: String,
    pub digest: Digest,
}

/// A subject's digest set: only `gitCommit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    #[serde(rename = "gitCommit")]
    pub git_commit: String,
}

/// The in-toto Statement v1 of a deployment authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

impl Statement {
    /// The statement for `predicate` (its commit is the subject).
    pub fn new(predicate: Predicate) -> Statement {
        let name = format!(
            "{}@{}",
            predicate.repository.as_deref().unwrap_or(&predicate.app),
            predicate.commit
        );
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name,
                digest: Digest {
                    git_commit: predicate.commit.clone(),
                },
            }],
            predicate_type: PREDICATE_TYPE.to_owned(),
            predicate,
        }
    }

    /// The serialized statement (the DSSE payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks a statement: the in-toto and predicate types, one subject whose
    /// `gitCommit` is the predicate's commit, and the fields each kind requires.
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let statement: Statement =
            serde_path_to_error::deserialize(&mut de).map_err(|e| StatementError::Json {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| StatementError::Json {
            path: ".".to_owned(),
            message: e.to_string(),
        })?;
        statement.check()?;
        Ok(statement)
    }

    /// The consistency rules [`Statement::parse`] applies.
    pub fn check(&self) -> Result<(), StatementError> {
        if self.statement_type != STATEMENT_TYPE {
            return Err(field(
                "_type",
                format!("`{}`, expected `{STATEMENT_TYPE}`", self.statement_type),
            ));
        }
        if self.predicate_type != PREDICATE_TYPE {
            return Err(field(
                "predicateType",
                format!("`{}`, expected `{PREDICATE_TYPE}`", self.predicate_type),
            ));
        }
        let p = &self.predicate;
        if !is_commit_sha(&p.commit) {
            return Err(field(
                "predicate.commit",
                format!("`{}` is not 40 lowercase hex digits", p.commit),
            ));
        }
        match self.subject.as_slice() {
            [one] if one.digest.git_commit == p.commit => {}
            [one] => {
                return Err(field(
                    "subject[0].digest.gitCommit",
                    format!(
                        "`{}` is not the predicate's commit `{}`",
                        one.digest.git_commit, p.commit
                    ),
                ));
            }
            _ => return Err(field("subject", "expected exactly one subject")),
        }
        for (name, value) in [
            ("predicate.app", &p.app),
            ("predicate.environment", &p.environment),
            ("predicate.approver", &p.approver),
        ] {
            if value.trim().is_empty() {
                return Err(field(name, "must not be empty"));
            }
        }
        if p.expires_at <= p.authorized_at {
            return Err(field(
                "predicate.expires_at",
                "must be after `predicate.authorized_at`",
            ));
        }
        match p.kind {
            Kind::BreakGlass => {
                if p.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                    return Err(field(
                        "predicate.reason",
                        "a break-glass authorization needs a reason",
                    ));
                }
                if p.retro_review_due.is_none() {
                    return Err(field(
                        "predicate.retro_review_due",
                        "a break-glass authorization needs a retro-review deadline",
                    ));
                }
            }
            Kind::Standard => {
                if p.change.is_none() {
                    return Err(field(
                        "predicate.change",
                        "a standard authorization needs its change record",
                    ));
                }
                match &p.gate {
                    None => {
                        return Err(field(
                            "predicate.gate",
                            "a standard authorization needs the merge gate's decision",
                        ));
                    }
                    Some(g) if g.outcome != "allow" => {
                        return Err(field(
                            "predicate.gate.outcome",
                            format!("`{}`: a standard authorization needs `allow`", g.outcome),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const COMMIT: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

    fn standard() -> Statement {
        Statement::new(Predicate {
            app: "storefront".to_owned(),
            environment: "production".to_owned(),
            repository: Some("acme/storefront".to_owned()),
            commit: COMMIT.to_owned(),
            approver: "alice".to_owned(),
            authorized_at: datetime!(2026-01-02 10:00 UTC),
            expires_at: datetime!(2026-01-09 10:00 UTC),
            kind: Kind::Standard,
            reason: None,
            retro_review_due: None,
            change: Some(ChangeRef {
                forge: "github".to_owned(),
                repo: "acme/storefront".to_owned(),
                number: 7,
                record_sha256: "ab".repeat(32),
            }),
            gate: Some(GateRef {
                outcome: "allow".to_owned(),
                reasons: vec!["baseline-merge: ok".to_owned()],
                ledger_index: Some(12),
            }),
        })
    }

    #[test]
    fn round_trip_and_shape() {
        let s = standard();
        let bytes = s.to_bytes();
        assert_eq!(Statement::parse(&bytes).unwrap(), s);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["_type"], STATEMENT_TYPE);
        assert_eq!(json["predicateType"], PREDICATE_TYPE);
        assert_eq!(json["subject"][0]["digest"]["gitCommit"], COMMIT);
        assert_eq!(
            json["subject"][0]["name"],
            format!("acme/storefront@{COMMIT}")
        );
        assert_eq!(json["predicate"]["kind"], "standard");
        assert_eq!(json["predicate"]["authorized_at"], "2026-01-02T10:00:00Z");
    }

    /// Each broken statement is refused with an error naming the field.
    #[test]
    fn strict_parsing_names_the_field() {
        let check = |edit: &dyn Fn(&mut serde_json::Value), expect: &str| {
            let mut json = serde_json::to_value(standard()).unwrap();
            edit(&mut json);
            let err = Statement::parse(&serde_json::to_vec(&json).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "expected `{expect}` in: {err}");
        };
        check(&|j| j["_type"] = "x".into(), "field `_type`");
        check(
            &|j| j["predicateType"] = "x".into(),
            "field `predicateType`",
        );
        check(
            &|j| j["predicate"]["extra"] = 1.into(),
            "unknown field `extra`",
        );
        check(
            &|j| j["predicate"]["expires_at"] = "tomorrow".into(),
            "at `predicate.expires_at`",
        );
        check(
            &|j| j["predicate"]["commit"] = "abc".into(),
            "field `predicate.commit`",
        );
        check(
            &|j| j["subject"][0]["digest"]["gitCommit"] = "0".repeat(40).into(),
            "field `subject[0].digest.gitCommit`",
        );
        check(&|j| j["subject"] = serde_json::json!([]), "field `subject`");
        check(
            &|j| j["predicate"]["kind"] = "yolo".into(),
            "at `predicate.kind`",
        );
        check(
            &|j| j["predicate"]["approver"] = " ".into(),
            "field `predicate.approver`",
        );
        check(
            &|j| j["predicate"]["expires_at"] = "2026-01-01T00:00:00Z".into(),
            "field `predicate.expires_at`",
        );
        check(
            &|j| j["predicate"]["gate"]["outcome"] = "deny".into(),
            "field `predicate.gate.outcome`",
        );
        check(
            &|j| j["predicate"]["change"] = serde_json::Value::Null,
            "field `predicate.change`",
        );
        check(
            &|j| {
                j["predicate"]["kind"] = "break-glass".into();
            },
            "field `predicate.reason`",
        );
        check(
            &|j| {
                j["predicate"]["kind"] = "break-glass".into();
                j["predicate"]["reason"] = "outage".into();
            },
            "field `predicate.retro_review_due`",
        );
    }
}
