//! Ledger entries: the canonical, versioned record of one governance event, and its byte
//! encoding (the leaf data the Merkle tree hashes).
//!
//! Version 1 encoding: a JSON object with no insignificant whitespace whose keys appear in
//! this fixed (lexicographic) order, optional keys omitted when absent or empty:
//!
//! `actor`, `decision`?, `fields`? (keys sorted), `kind`, `origin`? (`host`?, `ip`?,
//! `replica`?), `outcome`, `payload_sha256`?, `subject`, `time`, `version`.
//!
//! Strings escape `"`, `\` and control characters only (short forms `\b \f \n \r \t`, else
//! `\u00xx` lowercase); everything else is literal UTF-8. Times are UTC with exactly six
//! fractional digits. Auditor field names are ASCII, so byte order and UTF-16 order agree
//! and the bytes are also RFC 8785 (JCS) canonical JSON. Decoding re-encodes and demands
//! identical bytes, so every entry has exactly one accepted encoding and its leaf hash is
//! stable. A later version adds a new encoder beside this one; version 1 bytes never change.
//!
//! Entries never carry prompt or response content, only digests of it.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::hash::{Hash, leaf_hash};

mod fast_check;

/// The entry version this build writes.
pub const ENTRY_VERSION: u32 = 1;
/// Largest encoded entry accepted, in bytes.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Most auditor fields in one entry.
pub const MAX_FIELDS: usize = 32;
/// Longest auditor field name, in bytes.
pub const MAX_FIELD_NAME: usize = 64;
/// Longest auditor field value, in bytes.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Longest actor, subject, host or replica, in bytes.
pub const MAX_IDENTIFIER: usize = 512;

/// What happened. PCI DSS 10.2.1 event types map onto these (logins are
/// `authentication`, audit log access and start/stop are `audit_access` and
/// `audit_lifecycle`, privileged actions are `admin_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A model call through the AI gateway (content as digests only).
    GatewayRequest,
    /// A policy evaluation and its decision.
    PolicyDecision,
    /// A policy bundle was published or changed.
    BundleChange,
    /// A review of AI-assisted work.
    Review,
    /// An approval (of a tool, model, exception, deployment, ...).
    Approval,
    /// A deployment gate or rollout.
    Deployment,
    /// An emergency override of a policy.
    BreakGlass,
    /// An alert was raised.
    Alert,
    /// A privileged administrative action.
    AdminAction,
    /// A login or token use, successful or not.
    Authentication,
    /// Credentials or identities were created, changed or revoked.
    CredentialChange,
    /// Someone read the audit trail.
    AuditAccess,
    /// The audit trail was initialised, stopped, paused or its retention changed.
    AuditLifecycle,
    /// A signing key was created or rotated.
    KeyRotation,
    /// A content or repository scan.
    Scan,
    /// A change-management event: a webhook delivery and the change record it updated.
    Change,
}

impl EntryKind {
    /// Every kind, in declaration order.
    pub const ALL: [EntryKind; 16] = [
        EntryKind::GatewayRequest,
        EntryKind::PolicyDecision,
        EntryKind::BundleChange,
        EntryKind::Review,
        EntryKind::Approval,
        EntryKind::Deployment,
        EntryKind::BreakGlass,
        EntryKind::Alert,
        EntryKind::AdminAction,
        EntryKind::Authentication,
        EntryKind::CredentialChange,
        EntryKind::AuditAccess,
        EntryKind::AuditLifecycle,
        EntryKind::KeyRotation,
        EntryKind::Scan,
        EntryKind::Change,
    ];

    /// The encoded name, e.g. `policy_decision`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EntryKind::GatewayRequest => "gateway_request",
            EntryKind::PolicyDecision => "policy_decision",
            EntryKind::BundleChange => "bundle_change",
            EntryKind::Review => "review",
            EntryKind::Approval => "approval",
            EntryKind::Deployment => "deployment",
            EntryKind::BreakGlass => "break_glass",
            EntryKind::Alert => "alert",
            EntryKind::AdminAction => "admin_action",
            EntryKind::Authentication => "authentication",
            EntryKind::CredentialChange => "credential_change",
            EntryKind::AuditAccess => "audit_access",
            EntryKind::AuditLifecycle => "audit_lifecycle",
            EntryKind::KeyRotation => "key_rotation",
            EntryKind::Scan => "scan",
            EntryKind::Change => "change",
        }
    }
}

/// Whether the event succeeded (PCI DSS 10.2.2 "success or failure indication").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// The encoded name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// A policy decision, where the event has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    /// The encoded name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// Where the event came from (PCI DSS 10.2.2 "origination of event").
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Client IP address.
    pub ip: Option<IpAddr>,
    /// Client or system host name.
    pub host: Option<String>,
    /// The aigov replica that recorded the event.
    pub replica: Option<String>,
}

impl Origin {
    /// Whether no part is set.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.host.is_none() && self.replica.is_none()
    }
}

/// An entry could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u64),
    #[error("entry field `{0}` must not be empty")]
    Empty(String),
    #[error("entry field `{field}` is {len} bytes, more than the {max} allowed")]
    TooLong {
        field: String,
        len: usize,
        max: usize,
    },
    #[error("entry has {count} auditor fields, more than the {max} allowed")]
    TooManyFields { count: usize, max: usize },
    #[error(
        "invalid auditor field name `{0}`: expected a lowercase letter then lowercase letters, digits, `_`, `.` or `-`, at most 64 bytes"
    )]
    InvalidFieldName(String),
    #[error(
        "invalid entry time `{0}`: expected RFC 3339 UTC with six fractional digits, like `2025-01-02T03:04:05.000000Z`"
    )]
    InvalidTime(String),
    #[error("entry time is outside the years 0000 to 9999")]
    TimeOutOfRange,
    #[error("invalid payload digest `{0}`: expected 64 lowercase hex digits")]
    InvalidDigest(String),
    #[error("invalid origin ip `{0}`")]
    InvalidIp(String),
    #[error("entry is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("entry is not a valid version 1 entry: {0}")]
    Json(String),
    #[error("entry is not in canonical form")]
    NotCanonical,
}

/// An instant in UTC with microsecond precision, years 0000 to 9999 (PCI DSS 10.2.2 "date
/// and time"). Encoded as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Converts to UTC and truncates to whole microseconds.
    pub fn new(t: OffsetDateTime) -> Result<Timestamp, EntryError> {
        let utc = t.to_offset(UtcOffset::UTC);
        if !(0..=9999).contains(&utc.year()) {
            return Err(EntryError::TimeOutOfRange);
        }
        let truncated = utc
            .replace_nanosecond(utc.nanosecond() / 1000 * 1000)
            .map_err(|_| EntryError::TimeOutOfRange)?;
        Ok(Timestamp(truncated))
    }

    /// From microseconds since the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Result<Timestamp, EntryError> {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .map_err(|_| EntryError::TimeOutOfRange)?;
        Timestamp::new(t)
    }

    /// Parses the canonical form only.
    pub fn parse(s: &str) -> Result<Timestamp, EntryError> {
        let invalid = || EntryError::InvalidTime(s.to_owned());
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| invalid())?;
        let ts = Timestamp::new(t).map_err(|_| invalid())?;
        if ts.canonical()[..] != *s.as_bytes() {
            return Err(invalid());
        }
        Ok(ts)
    }

    /// The canonical text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written without `fmt` (entry
    /// decoding re-encodes every time it reads).
    fn canonical(&self) -> [u8; 27] {
        fn digits(out: &mut [u8], mut v: u32) {
            for d in out.iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let t = self.0;
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        // `new` keeps the year within 0..=9999.
        digits(&mut b[0..4], u32::try_from(t.year()).unwrap_or(0));
        digits(&mut b[5..7], u32::from(u8::from(t.month())));
        digits(&mut b[8..10], u32::from(t.day()));
        digits(&mut b[11..13], u32::from(t.hour()));
        digits(&mut b[14..16], u32::from(t.minute()));
        digits(&mut b[17..19], u32::from(t.second()));
        digits(&mut b[20..26], t.microsecond());
        b
    }

    /// The instant.
    pub fn to_datetime(&self) -> OffsetDateTime {
        self.0
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1000) as i64
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.canonical();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// One governance event. The PCI DSS 10.2.2 audit trail elements are `actor` (user
/// identification), `kind` (type of event), `time`, `outcome` (success or failure),
/// `origin` and `subject` (affected data, component, resource or service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Encoding version; [`ENTRY_VERSION`] for new entries.
    pub version: u32,
    pub kind: EntryKind,
    pub time: Timestamp,
    /// Who acted: a user, service account or system component id.
    pub actor: String,
    /// The affected resource, e.g. `repo:payments-api` or `bundle:prod@42`.
    pub subject: String,
    pub outcome: Outcome,
    /// Allow or deny, where the event is a decision.
    pub decision: Option<Decision>,
    pub origin: Origin,
    /// SHA-256 of the event's full payload kept elsewhere (request, diff, bundle, ...).
    pub payload_sha256: Option<Hash>,
    /// Further auditor fields, e.g. `request_id`, `policy_id`.
    pub fields: BTreeMap<String, String>,
}

fn check_ident(field: &str, value: &str) -> Result<(), EntryError> {
    if value.is_empty() {
        return Err(EntryError::Empty(field.to_owned()));
    }
    if value.len() > MAX_IDENTIFIER {
        return Err(EntryError::TooLong {
            field: field.to_owned(),
            len: value.len(),
            max: MAX_IDENTIFIER,
        });
    }
    Ok(())
}

fn is_field_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_FIELD_NAME
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: nothing to escape (the bytes below never occur inside a multi-byte
    // UTF-8 sequence).
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c < ' ' => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push_str(escape);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Dotted decimal, as `Ipv4Addr`'s `Display` writes it, without `fmt` (entry decoding
/// re-encodes every time it reads).
struct Ipv4Text {
    buf: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    fn as_str(&self) -> &str {
        // Only ASCII digits and dots are written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

fn ipv4_text(ip: &std::net::Ipv4Addr) -> Ipv4Text {
    let mut t = Ipv4Text {
        buf: [0; 15],
        len: 0,
    };
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            t.buf[t.len] = b'.';
            t.len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            t.buf[t.len] = b'0' + d;
            t.len += 1;
        }
    }
    t
}

fn write_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntryV1 {
    actor: String,
    decision: Option<Decision>,
    fields: Option<BTreeMap<String, String>>,
    kind: EntryKind,
    origin: Option<RawOriginV1>,
    outcome: Outcome,
    payload_sha256: Option<String>,
    subject: String,
    time: String,
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOriginV1 {
    host: Option<String>,
    ip: Option<String>,
    replica: Option<String>,
}

impl Entry {
    /// A version 1 entry with no decision, origin, payload digest or auditor fields.
    pub fn new(
        kind: EntryKind,
        time: Timestamp,
        actor: impl Into<String>,
        subject: impl Into<String>,
        outcome: Outcome,
    ) -> Entry {
        Entry {
            version: ENTRY_VERSION,
            kind,
            time,
            actor: actor.into(),
            subject: subject.into(),
            outcome,
            decision: None,
            origin: Origin::default(),
            payload_sha256: None,
            fields: BTreeMap::new(),
        }
    }

    /// Sets the decision.
    pub fn with_decision(mut self, decision: Decision) -> Entry {
        self.decision = Some(decision);
        self
    }

    /// Sets the origin.
    pub fn with_origin(mut self, origin: Origin) -> Entry {
        self.origin = origin;
        self
    }

    /// Sets the payload digest.
    pub fn with_payload_sha256(mut self, digest: Hash) -> Entry {
        self.payload_sha256 = Some(digest);
        self
    }

    /// Adds an auditor field.
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Entry {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// Checks the version and the limits on every field.
    pub fn validate(&self) -> Result<(), EntryError> {
        if self.version != ENTRY_VERSION {
            return Err(EntryError::UnsupportedVersion(u64::from(self.version)));
        }
        check_ident("actor", &self.actor)?;
        check_ident("subject", &self.subject)?;
        if let Some(host) = &self.origin.host {
            check_ident("origin.host", host)?;
        }
        if let Some(replica) = &self.origin.replica {
            check_ident("origin.replica", replica)?;
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(EntryError::TooManyFields {
                count: self.fields.len(),
                max: MAX_FIELDS,
            });
        }
        for (name, value) in &self.fields {
            if !is_field_name(name) {
                return Err(EntryError::InvalidFieldName(name.clone()));
            }
            if value.len() > MAX_FIELD_VALUE {
                return Err(EntryError::TooLong {
                    field: format!("fields.{name}"),
                    len: value.len(),
                    max: MAX_FIELD_VALUE,
                });
            }
        }
        Ok(())
    }

    /// The canonical encoding (see the module docs); the leaf data of the tree.
    pub fn to_canonical_bytes(&self) -> Result<Vec<u8>, EntryError> {
        self.validate()?;
        // Room for the fixed keys and values plus the variable parts, so the buffer is
        // allocated once.
        let mut out = String::with_capacity(
            256 + self.actor.len()
                + self.subject.len()
                + self.origin.host.as_ref().map_or(0, String::len)
                + self.origin.replica.as_ref().map_or(0, String::len)
                + self
                    .fields
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 6)
                    .sum::<usize>(),
        );
        out.push('{');
        write_key(&mut out, "actor");
        write_json_str(&mut out, &self.actor);
        if let Some(d) = self.decision {
            out.push(',');
            write_key(&mut out, "decision");
            write_json_str(&mut out, d.as_str());
        }
        if !self.fields.is_empty() {
            out.push(',');
            write_key(&mut out, "fields");
            out.push('{');
            for (i, (name, value)) in self.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(&mut out, name);
                out.push(':');
                write_json_str(&mut out, value);
            }
            out.push('}');
        }
        out.push(',');
        write_key(&mut out, "kind");
        write_json_str(&mut out, self.kind.as_str());
        if !self.origin.is_empty() {
            out.push(',');
            write_key(&mut out, "origin");
            out.push('{');
            let mut first = true;
            let mut part = |out: &mut String, key: &str, value: &str| {
                if !first {
                    out.push(',');
                }
                first = false;
                write_key(out, key);
                write_json_str(out, value);
            };
            if let Some(host) = &self.origin.host {
                part(&mut out, "host", host);
            }
            if let Some(ip) = &self.origin.ip {
                match ip {
                    IpAddr::V4(v4) => part(&mut out, "ip", ipv4_text(v4).as_str()),
                    IpAddr::V6(_) => part(&mut out, "ip", &ip.to_string()),
                }
            }
            if let Some(replica) = &self.origin.replica {
                part(&mut out, "replica", replica);
            }
            out.push('}');
        }
        out.push(',');
        write_key(&mut out, "outcome");
        write_json_str(&mut out, self.outcome.as_str());
        if let Some(digest) = &self.payload_sha256 {
            out.push(',');
            write_key(&mut out, "payload_sha256");
            out.push('"');
            digest.push_hex(&mut out);
            out.push('"');
        }
        out.push(',');
        write_key(&mut out, "subject");
        write_json_str(&mut out, &self.subject);
        out.push(',');
        write_key(&mut out, "time");
        out.push('"');
        out.push_str(
            std::str::from_utf8(&self.time.canonical()).map_err(|_| EntryError::TimeOutOfRange)?,
        );
        out.push('"');
        out.push(',');
        write_key(&mut out, "version");
        let _ = write!(out, "{}", self.version);
        out.push('}');
        if out.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                size: out.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        Ok(out.into_bytes())
    }

    /// Decodes canonical bytes; any other encoding of the same entry is rejected.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        let raw: RawEntryV1 = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            // Say "unsupported version" rather than "unknown field" for a newer entry.
            Err(e) => {
                return Err(match serde_json::from_slice::<VersionOnly>(bytes) {
                    Ok(VersionOnly { version }) if version != u64::from(ENTRY_VERSION) => {
                        EntryError::UnsupportedVersion(version)
                    }
                    _ => EntryError::Json(e.to_string()),
                });
            }
        };
        if raw.version != u64::from(ENTRY_VERSION) {
            return Err(EntryError::UnsupportedVersion(raw.version));
        }
        let origin = match raw.origin {
            None => Origin::default(),
            Some(o) => Origin {
                ip: o
                    .ip
                    .map(|ip| ip.parse().map_err(|_| EntryError::InvalidIp(ip)))
                    .transpose()?,
                host: o.host,
                replica: o.replica,
            },
        };
        let payload_sha256 = raw
            .payload_sha256
            .map(|d| Hash::from_hex(&d).map_err(|_| EntryError::InvalidDigest(d)))
            .transpose()?;
        let entry = Entry {
            version: ENTRY_VERSION,
            kind: raw.kind,
            time: Timestamp::parse(&raw.time)?,
            actor: raw.actor,
            subject: raw.subject,
            outcome: raw.outcome,
            decision: raw.decision,
            origin,
            payload_sha256,
            fields: raw.fields.unwrap_or_default(),
        };
        if entry.to_canonical_bytes()? != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// Checks that `bytes` are a canonical entry: `Ok` exactly when
    /// [`from_canonical_bytes`](Entry::from_canonical_bytes) would decode them. Typical
    /// entries are checked in one pass without allocating; anything unusual (escaped text,
    /// IPv6 origins, errors) goes through the full decoder, which names the problem.
    pub fn check_canonical(bytes: &[u8]) -> Result<(), EntryError> {
        if fast_check::is_canonical(bytes) {
            return Ok(());
        }
        Entry::from_canonical_bytes(bytes).map(|_| ())
    }

    /// RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> Result<Hash, EntryError> {
        Ok(leaf_hash(&self.to_canonical_bytes()?))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn ipv4_text_matches_display() {
        for a in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(a, 0, 9, 255),
                Ipv4Addr::new(255, a, 10, 1),
                Ipv4Addr::new(1, 99, a, 100),
                Ipv4Addr::new(0, 0, 0, a),
            ] {
                assert_eq!(ipv4_text(&ip).as_str(), ip.to_string());
            }
        }
    }

    #[test]
    fn timestamp_text_matches_fmt() {
        for micros in [
            -62_167_219_200_000_000, // 0000-01-01
            0,
            1_741_961_366_535_897,
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ] {
            let t = Timestamp::from_unix_micros(micros).unwrap().to_datetime();
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            );
            assert_eq!(Timestamp::new(t).unwrap().to_string(), want);
        }
    }
}
