//! Signed deployment authorizations, the pure core (no IO): an in-toto Statement v1 whose
//! subject is the authorized git commit and whose predicate says who authorized which
//! deployment until when ([`statement`]), carried in a DSSE envelope signed with the audit
//! log's Ed25519 key ([`dsse`]), and the offline check of an authorization bundle — envelope,
//! ledger entry, details and `tlog-proof` — that a CD pipeline runs ([`bundle`]).
//!
//! The DSSE `keyid` is the verifier key's `<name>+<hex key id>` (e.g. `aigov.local+1a2b3c4d`),
//! the first two parts of the key `aigov audit key` prints. It is a hint only: verification
//! always uses the key the verifier was given.

pub mod bundle;
pub mod dsse;
pub mod statement;

pub use bundle::{
    AuthorizationBundle, BUNDLE_FORMAT, Expected, LoggedEntry, Refusal, Verified, verify_bundle,
};
pub use dsse::{DsseError, Envelope, PAYLOAD_TYPE, Signature, keyid, pae};
pub use statement::{
    ChangeRef, GateRef, Kind, PREDICATE_TYPE, Predicate, STATEMENT_TYPE, Statement, StatementError,
    Subject, is_commit_sha,
};

/// Canonical bytes of a JSON value: object keys sorted by code point, no insignificant
/// whitespace, serde_json's number and string forms. The same form as
/// `audit::canonical_json`, which computes the ledger's `payload_sha256` (a server test checks
/// that both agree).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    use serde_json::Value;
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sorted(value)).unwrap_or_default()
}
