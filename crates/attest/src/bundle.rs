//! The authorization bundle a CD pipeline verifies offline: the DSSE envelope, the ledger
//! entry that recorded it (canonical bytes), that entry's details (whose SHA-256 the entry
//! commits to, and which hold the envelope) and a `tlog-proof@v1` of the entry against a
//! checkpoint signed by the log's key; plus, when the authorization was revoked, the
//! revocation's entry, details and proof. Everything is checked against one key: the log's
//! verifier key, which signs both the envelope and the checkpoints.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ledger::{Entry, EntryKind, TlogProof, VerifierKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dsse::{DsseError, Envelope};
use crate::statement::{Statement, StatementError};

/// The bundle's `format`.
pub const BUNDLE_FORMAT: &str = "https://aigov.dev/deploy-authorization-bundle/v1";

/// Ledger event of a standard authorization (entry kind `approval`).
pub const EVENT_AUTHORIZED: &str = "deploy.authorized";
/// Ledger event of a break-glass authorization (entry kind `break_glass`).
pub const EVENT_BREAK_GLASS: &str = "deploy.break_glass";
/// Ledger event of a revocation (entry kind `approval`).
pub const EVENT_REVOKED: &str = "deploy.revoked";

/// One ledger entry with what shows it is in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedEntry {
    /// The entry's index in the log.
    pub index: u64,
    /// The entry's canonical bytes, base64.
    pub entry: String,
    /// The event's details; the entry's `payload_sha256` is the SHA-256 of their canonical JSON.
    pub details: Value,
    /// `tlog-proof@v1` text of the entry against a signed checkpoint.
    pub proof: String,
}

/// What `aigov deploy proof` writes and `GET /api/v1/deployments/authorization` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The server's id of the authorization (informational).
    pub id: i64,
    /// The signed statement.
    pub envelope: Envelope,
    /// The ledger entry that recorded the authorization.
    pub authorization: LoggedEntry,
    /// The ledger entry that revoked it, if it was revoked when the bundle was made.
    #[serde(default)]
    pub revocation: Option<LoggedEntry>,
}

/// The deployment a pipeline is about to make.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub app: &'a str,
    pub environment: &'a str,
    pub commit: &'a str,
}

/// A verified, valid authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub statement: Statement,
    /// The authorization's ledger entry.
    pub ledger_index: u64,
    /// The checkpoint its inclusion was proven against.
    pub checkpoint_size: u64,
    pub origin: String,
}

/// Why a deployment is not authorized. [`Refusal::code`] is a stable token for scripts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no authorization: {0}")]
    Missing(String),
    #[error("signature does not verify: {0}")]
    Signature(DsseError),
    #[error("the authorization's statement is invalid: {0}")]
    Statement(StatementError),
    #[error("not in the log: {0}")]
    NotInLog(String),
    #[error("authorization is for `{app}` environment `{environment}`")]
    OtherTarget { app: String, environment: String },
    #[error("authorization is for commit {commit}")]
    OtherCommit { commit: String },
    #[error("revoked by {by} at {at} because {reason}")]
    Revoked {
        by: String,
        at: String,
        reason: String,
    },
    #[error("expired at {0}")]
    Expired(String),
    #[error("invalid bundle: {0}")]
    Invalid(String),
}

impl Refusal {
    /// `missing`, `bad_signature`, `invalid_statement`, `not_in_log`, `other_target`,
    /// `other_commit`, `revoked`, `expired` or `invalid_bundle`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Missing(_) => "missing",
            Refusal::Signature(_) => "bad_signature",
            Refusal::Statement(_) => "invalid_statement",
            Refusal::NotInLog(_) => "not_in_log",
            Refusal::OtherTarget { .. } => "other_target",
            Refusal::OtherCommit { .. } => "other_commit",
            Refusal::Revoked { .. } => "revoked",
            Refusal::Expired(_) => "expired",
            Refusal::Invalid(_) => "invalid_bundle",
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The origin line of a checkpoint note (its first line).
fn checkpoint_origin(note: &str) -> &str {
    note.split('\n').next().unwrap_or_default()
}

/// A proven entry: decoded, its details digest checked, its inclusion proven.
struct Proven {
    entry: Entry,
    size: u64,
    origin: String,
}

/// Checks that `logged` is in the log whose checkpoints `key` signs (with `origin`, or the
/// origin the proof's checkpoint names) and that its `payload_sha256` commits to its details.
fn prove(
    what: &str,
    logged: &LoggedEntry,
    key: &VerifierKey,
    origin: Option<&str>,
) -> Result<Proven, Refusal> {
    let not_in_log = |m: String| Refusal::NotInLog(format!("the {what}'s ledger entry {m}"));
    let bytes = STANDARD
        .decode(&logged.entry)
        .map_err(|_| not_in_log("is not valid base64".to_owned()))?;
    let entry = Entry::from_canonical_bytes(&bytes)
        .map_err(|e| not_in_log(format!("is not a ledger entry: {e}")))?;
    let proof = TlogProof::parse(&logged.proof)
        .map_err(|e| not_in_log(format!("has an unreadable proof: {e}")))?;
    if proof.index != logged.index {
        return Err(not_in_log(format!(
            "is said to be {} but its proof is for entry {}",
            logged.index, proof.index
        )));
    }
    let origin = origin
        .unwrap_or_else(|| checkpoint_origin(&proof.checkpoint))
        .to_owned();
    let proven = proof
        .verify(&bytes, &origin, key)
        .map_err(|e| not_in_log(format!("{} is not proven: {e}", logged.index)))?;
    let digest = ledger::sha256(&crate::canonical_json(&logged.details));
    if entry.payload_sha256 != Some(digest) {
        return Err(not_in_log(format!(
            "{} does not commit to these details (their SHA-256 is `{digest}`)",
            logged.index
        )));
    }
    Ok(Proven {
        entry,
        size: proven.size,
        origin,
    })
}

fn event(entry: &Entry) -> &str {
    entry.fields.get("event").map_or("", String::as_str)
}

fn text<'a>(details: &'a Value, key: &str) -> &'a str {
    details.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// Verifies `bundle` offline for the deployment `expected` at time `at`, with the log's
/// verifier `key` (and `origin`, if given; otherwise the origin the proof's checkpoint
/// names, which the key's signature still covers). In order: the envelope's signature, the
/// statement, the authorization's ledger entry (it commits to details holding this very
/// envelope, and its inclusion proof leads to a checkpoint signed by `key`), the target
/// (app, environment, commit), a revocation (itself proven the same way) and expiry.
pub fn verify_bundle(
    bundle: &AuthorizationBundle,
    key: &VerifierKey,
    origin: Option<&str>,
    expected: &Expected<'_>,
    at: OffsetDateTime,
) -> Result<Verified, Refusal> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(Refusal::Invalid(format!(
            "format is `{}`, expected `{BUNDLE_FORMAT}`",
            bundle.format
        )));
    }
    let payload = bundle.envelope.verify(key).map_err(Refusal::Signature)?;
    let statement = Statement::parse(&payload).map_err(Refusal::Statement)?;

    let proven = prove("authorization", &bundle.authorization, key, origin)?;
    let details = &bundle.authorization.details;
    let recorded = details
        .get("envelope")
        .map(crate::canonical_json)
        .unwrap_or_default();
    if recorded != crate::canonical_json(&bundle.envelope.to_json()) {
        return Err(Refusal::NotInLog(format!(
            "ledger entry {} records another envelope than this one",
            bundle.authorization.index
        )));
    }
    let expected_event = match (proven.entry.kind, event(&proven.entry)) {
        (EntryKind::Approval, EVENT_AUTHORIZED) | (EntryKind::BreakGlass, EVENT_BREAK_GLASS) => {
            None
        }
        (kind, event) => Some(format!(
            "ledger entry {} is `{}` event `{event}`, not an authorization",
            bundle.authorization.index,
            kind.as_str()
        )),
    };
    if let Some(problem) = expected_event {
        return Err(Refusal::NotInLog(problem));
    }

    let p = &statement.predicate;
    if p.app != expected.app || p.environment != expected.environment {
        return Err(Refusal::OtherTarget {
            app: p.app.clone(),
            environment: p.environment.clone(),
        });
    }
    if !p.commit.eq_ignore_ascii_case(expected.commit) {
        return Err(Refusal::OtherCommit {
            commit: p.commit.clone(),
        });
    }

    if let Some(revocation) = &bundle.revocation {
        let revoked = prove("revocation", revocation, key, Some(&proven.origin))?;
        let d = &revocation.details;
        let target = d.get("authorization_ledger_index").and_then(Value::as_u64);
        if event(&revoked.entry) != EVENT_REVOKED || target != Some(bundle.authorization.index) {
            return Err(Refusal::Invalid(format!(
                "ledger entry {} is not a revocation of entry {}",
                revocation.index, bundle.authorization.index
            )));
        }
        return Err(Refusal::Revoked {
            by: text(d, "revoked_by").to_owned(),
            at: text(d, "revoked_at").to_owned(),
            reason: text(d, "reason").to_owned(),
        });
    }

    if at >= p.expires_at {
        return Err(Refusal::Expired(rfc3339(p.expires_at)));
    }
    Ok(Verified {
        ledger_index: bundle.authorization.index,
        checkpoint_size: proven.size,
        origin: proven.origin,
        statement,
    })
}

#[cfg(test)]
mod tests {
    use ledger::{Checkpoint, MemTree, Outcome, SignerKey, Timestamp};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::statement::{ChangeRef, GateRef, Kind, Predicate};

    const COMMIT: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
    const ORIGIN: &str = "aigov.test/attest";

    fn signer() -> SignerKey {
        SignerKey::from_seed("aigov.test", [9; 32]).unwrap()
    }

    fn statement() -> Statement {
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
                reasons: vec![],
                ledger_index: Some(0),
            }),
        })
    }

    fn entry(kind: EntryKind, event: &str, details: &Value) -> Vec<u8> {
        Entry::new(
            kind,
            Timestamp::new(datetime!(2026-01-02 10:00 UTC)).unwrap(),
            "cli:test",
            "deploy:storefront/production",
            Outcome::Success,
        )
        .with_payload_sha256(ledger::sha256(&crate::canonical_json(details)))
        .with_field("event", event)
        .to_canonical_bytes()
        .unwrap()
    }

    /// A log of: an unrelated entry, the authorization, optionally its revocation; and the
    /// bundle proving them against a checkpoint of the whole log.
    fn bundle(signer: &SignerKey, revoke: bool) -> AuthorizationBundle {
        let envelope = Envelope::sign(crate::PAYLOAD_TYPE, &statement().to_bytes(), signer);
        let auth_details = json!({"envelope": envelope.to_json(), "app": "storefront"});
        let revoke_details = json!({
            "authorization_ledger_index": 1,
            "revoked_by": "bob",
            "revoked_at": "2026-01-03T00:00:00Z",
            "reason": "bad migration",
        });
        let entries = [
            entry(EntryKind::Change, "webhook.processed", &json!({})),
            entry(EntryKind::Approval, EVENT_AUTHORIZED, &auth_details),
            entry(EntryKind::Approval, EVENT_REVOKED, &revoke_details),
        ];
        let count = if revoke { 3 } else { 2 };
        let mut tree = MemTree::new();
        for e in &entries[..count] {
            tree.push_entry(e);
        }
        let note = Checkpoint::new(ORIGIN, tree.head()).sign(signer).unwrap();
        let logged = |index: u64, details: &Value| LoggedEntry {
            index,
            entry: STANDARD.encode(&entries[index as usize]),
            details: details.clone(),
            proof: TlogProof {
                extra: None,
                index,
                proof: tree.inclusion_proof(index, count as u64).unwrap(),
                checkpoint: note.clone(),
            }
            .to_text(),
        };
        AuthorizationBundle {
            format: BUNDLE_FORMAT.to_owned(),
            id: 1,
            envelope,
            authorization: logged(1, &auth_details),
            revocation: revoke.then(|| logged(2, &revoke_details)),
        }
    }

    const EXPECTED: Expected<'static> = Expected {
        app: "storefront",
        environment: "production",
        commit: COMMIT,
    };
    const NOW: OffsetDateTime = datetime!(2026-01-05 00:00 UTC);

    #[test]
    fn a_valid_bundle_verifies() {
        let key = signer();
        let verified =
            verify_bundle(&bundle(&key, false), &key.verifier(), None, &EXPECTED, NOW).unwrap();
        assert_eq!(verified.ledger_index, 1);
        assert_eq!(verified.checkpoint_size, 2);
        assert_eq!(verified.origin, ORIGIN);
        assert_eq!(verified.statement.predicate.approver, "alice");
        // The bundle survives a JSON round trip.
        let text = serde_json::to_string(&bundle(&key, false)).unwrap();
        let parsed: AuthorizationBundle = serde_json::from_str(&text).unwrap();
        verify_bundle(&parsed, &key.verifier(), Some(ORIGIN), &EXPECTED, NOW).unwrap();
    }

    /// Each case: an edit of a valid bundle (or of what is expected) and the refusal's code
    /// and message.
    #[test]
    fn refusals() {
        let key = signer();
        let check = |edit: &dyn Fn(
            &mut AuthorizationBundle,
            &mut Expected<'static>,
            &mut OffsetDateTime,
        ),
                     code: &str,
                     message: &str| {
            let mut b = bundle(&key, false);
            let mut expected = EXPECTED;
            let mut at = NOW;
            edit(&mut b, &mut expected, &mut at);
            let refusal = verify_bundle(&b, &key.verifier(), None, &expected, at).unwrap_err();
            assert_eq!(refusal.code(), code, "{refusal}");
            assert!(refusal.to_string().contains(message), "{refusal}");
        };
        check(
            &|_, e, _| e.commit = "1111111111111111111111111111111111111111",
            "other_commit",
            &format!("authorization is for commit {COMMIT}"),
        );
        check(
            &|_, e, _| e.environment = "staging",
            "other_target",
            "authorization is for `storefront` environment `production`",
        );
        check(
            &|_, _, at| *at = datetime!(2026-01-09 10:00 UTC),
            "expired",
            "expired at 2026-01-09T10:00:00Z",
        );
        check(
            &|b, _, _| {
                let mut s = statement();
                s.predicate.environment = "staging".to_owned();
                b.envelope.payload = STANDARD.encode(s.to_bytes());
            },
            "bad_signature",
            "signature does not verify",
        );
        check(
            &|b, _, _| b.envelope.payload_type = "application/json".to_owned(),
            "bad_signature",
            "payload type",
        );
        check(
            &|b, _, _| b.authorization.details["app"] = "other".into(),
            "not_in_log",
            "does not commit to these details",
        );
        check(
            &|b, _, _| {
                // An envelope that verifies but is not the one the entry recorded.
                let mut s = statement();
                s.predicate.approver = "mallory".to_owned();
                b.envelope = Envelope::sign(crate::PAYLOAD_TYPE, &s.to_bytes(), &signer());
            },
            "not_in_log",
            "records another envelope",
        );
        check(
            &|b, _, _| {
                b.authorization.proof = b.authorization.proof.replacen("index 1", "index 0", 1)
            },
            "not_in_log",
            "its proof is for entry 0",
        );
        check(
            &|b, _, _| {
                let mut lines: Vec<String> = b
                    .authorization
                    .proof
                    .split('\n')
                    .map(str::to_owned)
                    .collect();
                lines[2] = ledger::Hash([0; 32]).to_base64();
                b.authorization.proof = lines.join("\n");
            },
            "not_in_log",
            "is not proven",
        );
        check(
            &|b, _, _| b.format = "x".to_owned(),
            "invalid_bundle",
            "format is `x`",
        );
    }

    #[test]
    fn wrong_key_and_wrong_origin() {
        let key = signer();
        let other = SignerKey::from_seed("aigov.test", [10; 32]).unwrap();
        let refusal = verify_bundle(
            &bundle(&key, false),
            &other.verifier(),
            None,
            &EXPECTED,
            NOW,
        )
        .unwrap_err();
        assert_eq!(refusal.code(), "bad_signature", "{refusal}");
        // Signed by another key entirely: the envelope and the checkpoint agree with each
        // other but not with the key the verifier trusts.
        let forged = bundle(&other, false);
        let refusal = verify_bundle(&forged, &key.verifier(), None, &EXPECTED, NOW).unwrap_err();
        assert_eq!(refusal.code(), "bad_signature", "{refusal}");
        let refusal = verify_bundle(
            &bundle(&key, false),
            &key.verifier(),
            Some("aigov.test/other"),
            &EXPECTED,
            NOW,
        )
        .unwrap_err();
        assert_eq!(refusal.code(), "not_in_log", "{refusal}");
    }

    #[test]
    fn a_proven_revocation_refuses() {
        let key = signer();
        let refusal =
            verify_bundle(&bundle(&key, true), &key.verifier(), None, &EXPECTED, NOW).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "revoked by bob at 2026-01-03T00:00:00Z because bad migration"
        );
        // A revocation whose details were changed is not proven.
        let mut b = bundle(&key, true);
        if let Some(r) = b.revocation.as_mut() {
            r.details["reason"] = "other".into();
        }
        let refusal = verify_bundle(&b, &key.verifier(), None, &EXPECTED, NOW).unwrap_err();
        assert_eq!(refusal.code(), "not_in_log", "{refusal}");
        // A revocation entry of another authorization does not count as this one's.
        let mut b = bundle(&key, true);
        if let Some(r) = b.revocation.as_mut() {
            r.index = 0;
            let valid = bundle(&key, false);
            r.entry = valid.authorization.entry.clone();
        }
        let refusal = verify_bundle(&b, &key.verifier(), None, &EXPECTED, NOW).unwrap_err();
        assert_eq!(refusal.code(), "not_in_log", "{refusal}");
    }
}
