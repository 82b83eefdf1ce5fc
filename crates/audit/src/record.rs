//! Recording one governance event: a ledger entry (the evidence, committed first and durable)
//! plus an event row holding the details the entry's `payload_sha256` commits to.
//!
//! The digest covers the details in canonical form (object keys sorted, compact), so it can
//! be recomputed from the stored row on either backend (PostgreSQL's `jsonb` does not keep
//! key order). The row adds one key, `ledger_index`, outside the digested details.

use std::collections::BTreeMap;

use ledger::{Decision, Entry, EntryKind, Hash, Origin, Outcome, Timestamp};
use serde_json::Value;
use store::NewEvent;
use time::OffsetDateTime;

use crate::{AuditError, AuditLog};

/// Key added to the stored event row: the entry's ledger index.
pub use store::LEDGER_INDEX_KEY;

/// A governance event to record.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: EntryKind,
    /// Dotted event name, e.g. `policy.decision`, `bundle.loaded`, `token.revoked`; kept as
    /// the entry's `event` field and the event row's kind.
    pub event: String,
    pub actor: String,
    pub subject: String,
    pub outcome: Outcome,
    pub decision: Option<Decision>,
    pub origin: Origin,
    /// Short auditor fields copied into the entry itself.
    pub fields: BTreeMap<String, String>,
    /// Everything else, stored in the event row and committed to by digest. A value that is
    /// not an object is stored as `{"value": ...}`.
    pub details: Value,
    /// Event time; `None` means now.
    pub time: Option<OffsetDateTime>,
}

impl Record {
    pub fn new(
        kind: EntryKind,
        event: impl Into<String>,
        actor: impl Into<String>,
        subject: impl Into<String>,
        outcome: Outcome,
    ) -> Record {
        Record {
            kind,
            event: event.into(),
            actor: actor.into(),
            subject: subject.into(),
            outcome,
            decision: None,
            origin: Origin::default(),
            fields: BTreeMap::new(),
            details: Value::Object(Default::default()),
            time: None,
        }
    }

    pub fn decision(mut self, decision: Decision) -> Record {
        self.decision = Some(decision);
        self
    }

    pub fn origin(mut self, origin: Origin) -> Record {
        self.origin = origin;
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Record {
        self.fields.insert(name.into(), value.into());
        self
    }

    pub fn details(mut self, details: Value) -> Record {
        self.details = details;
        self
    }
}

/// The recorded event: where it is in the ledger and what its details hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub index: u64,
    pub details_sha256: Hash,
}

/// Canonical bytes of a JSON value: object keys sorted by code point, no insignificant
/// whitespace, serde_json's number and string forms.
pub fn canonical_json(value: &Value) -> Vec<u8> {
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

/// SHA-256 of [`canonical_json`] of the details.
pub fn details_digest(details: &Value) -> Hash {
    ledger::sha256(&canonical_json(details))
}

impl AuditLog {
    /// Appends the event's entry and its details row in one transaction, returning once both
    /// are durable. A failure is an error: an event that is not recorded must not be treated
    /// as done.
    pub async fn record(&self, record: Record) -> Result<Recorded, AuditError> {
        let (entry, details, digest) = self.prepare(record)?;
        // One transaction: the entry and its details row are committed together.
        let index = self.append_with_details(&entry, Some(details)).await?;
        Ok(Recorded {
            index,
            details_sha256: digest,
        })
    }

    /// Queues the event's entry and details row for the writer without waiting for the
    /// commit (see [`AuditLog::append_queued`]: retried until committed; an error while the
    /// log cannot commit).
    pub async fn record_queued(&self, record: Record) -> Result<(), AuditError> {
        let (entry, details, _) = self.prepare(record)?;
        self.append_queued(&entry, Some(details)).await
    }

    /// [`AuditLog::record_queued`] from synchronous code: never waits.
    pub fn try_record_queued(&self, record: Record) -> Result<(), AuditError> {
        let (entry, details, _) = self.prepare(record)?;
        self.try_append_queued(&entry, Some(details))
    }

    /// The entry, its details row and the details' digest.
    fn prepare(&self, record: Record) -> Result<(Entry, NewEvent, Hash), AuditError> {
        let at = record.time.unwrap_or_else(OffsetDateTime::now_utc);
        let payload = match record.details {
            Value::Object(map) => Value::Object(map),
            Value::Null => Value::Object(Default::default()),
            other => serde_json::json!({ "value": other }),
        };
        let digest = details_digest(&payload);
        let mut origin = record.origin;
        if origin.replica.is_none() {
            origin.replica = self.replica.as_deref().map(str::to_owned);
        }
        let mut entry = Entry::new(
            record.kind,
            Timestamp::new(at)?,
            record.actor.clone(),
            record.subject.clone(),
            record.outcome,
        )
        .with_origin(origin)
        .with_payload_sha256(digest)
        .with_field("event", record.event.clone());
        for (name, value) in record.fields {
            entry = entry.with_field(name, value);
        }
        if let Some(d) = record.decision {
            entry = entry.with_decision(d);
        }
        let outcome = match record.decision {
            Some(d) => d.as_str(),
            None => record.outcome.as_str(),
        };
        let details = NewEvent {
            kind: record.event,
            actor: record.actor,
            subject: record.subject,
            outcome: outcome.to_owned(),
            at: store::normalize_time(at),
            payload,
        };
        Ok((entry, details, digest))
    }
}

/// The details to keep of one piece of content (a prompt, a response, a diff) under the
/// bundle's retention policy: always its SHA-256 and length, the text itself only when
/// `retention` is [`model::ContentRetention::Full`].
pub fn content_details(retention: model::ContentRetention, content: &[u8]) -> Value {
    let mut details = serde_json::json!({
        "sha256": ledger::sha256(content).to_string(),
        "bytes": content.len(),
    });
    if retention == model::ContentRetention::Full {
        details["text"] = Value::from(String::from_utf8_lossy(content).into_owned());
    }
    details
}

#[cfg(test)]
mod tests {
    use model::ContentRetention;

    use super::*;

    #[test]
    fn content_is_kept_only_when_retention_says_full() {
        let prompt = b"refactor this: let key = load();";
        let digest_only = content_details(ContentRetention::Digest, prompt);
        assert_eq!(
            digest_only,
            serde_json::json!({
                "sha256": ledger::sha256(prompt).to_string(),
                "bytes": prompt.len(),
            })
        );
        assert!(!digest_only.to_string().contains("refactor"));
        let full = content_details(ContentRetention::Full, prompt);
        assert_eq!(full["text"], "refactor this: let key = load();");
        assert_eq!(full["sha256"], digest_only["sha256"]);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": 1, "a": {"y": [ {"d": 1, "c": 2} ], "x": "é"}});
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"a":{"x":"é","y":[{"c":2,"d":1}]},"b":1}"#
        );
        let reordered = serde_json::json!({"a": {"x": "é", "y": [ {"c": 2, "d": 1} ]}, "b": 1});
        assert_eq!(details_digest(&a), details_digest(&reordered));
    }
}
