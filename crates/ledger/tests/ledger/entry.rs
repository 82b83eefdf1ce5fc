//! Canonical entry tests: snapshot of the bytes, round trips, rejection of every
//! non-canonical variant, validation limits.

use std::net::IpAddr;

use expect_test::expect;
use ledger::entry::{MAX_ENTRY_BYTES, MAX_FIELDS};
use ledger::{
    Decision, Entry, EntryError, EntryKind, Origin, Outcome, Timestamp, leaf_hash, sha256,
};
use time::macros::datetime;

fn sample() -> Entry {
    Entry::new(
        EntryKind::PolicyDecision,
        Timestamp::new(datetime!(2025-03-14 15:09:26.535897 +01:00)).unwrap(),
        "user:alice@example.com",
        "repo:payments-api",
        Outcome::Success,
    )
    .with_decision(Decision::Deny)
    .with_origin(Origin {
        ip: Some("2001:db8::17".parse().unwrap()),
        host: Some("ci-runner-3.example.com".into()),
        replica: Some("aigov-1".into()),
    })
    .with_payload_sha256(sha256(b"{\"request\":\"...\"}"))
    .with_field("policy_id", "no-secrets-in-prompts")
    .with_field("request_id", "01JQ8Z6W3J5T4K2M9N7P")
    .with_field("bundle", "prod@42")
}

fn canonical(e: &Entry) -> String {
    String::from_utf8(e.to_canonical_bytes().unwrap()).unwrap()
}

#[test]
fn canonical_bytes_snapshot() {
    expect![[r#"{"actor":"user:alice@example.com","decision":"deny","fields":{"bundle":"prod@42","policy_id":"no-secrets-in-prompts","request_id":"01JQ8Z6W3J5T4K2M9N7P"},"kind":"policy_decision","origin":{"host":"ci-runner-3.example.com","ip":"2001:db8::17","replica":"aigov-1"},"outcome":"success","payload_sha256":"1d6fb59b85252102e9eb50fecfee1a84d847187b36b8393c1dbb1c3a86ba53de","subject":"repo:payments-api","time":"2025-03-14T14:09:26.535897Z","version":1}"#]]
    .assert_eq(&canonical(&sample()));

    let minimal = Entry::new(
        EntryKind::BreakGlass,
        Timestamp::new(datetime!(2025-01-01 00:00:00 UTC)).unwrap(),
        "user:bob",
        "policy:prod-deploy-freeze",
        Outcome::Failure,
    );
    expect![[r#"{"actor":"user:bob","kind":"break_glass","outcome":"failure","subject":"policy:prod-deploy-freeze","time":"2025-01-01T00:00:00.000000Z","version":1}"#]]
    .assert_eq(&canonical(&minimal));

    let escapes = minimal.clone().with_field(
        "note",
        "tab\there \"quoted\" back\\slash\u{1} nul\u{0} é 🦀",
    );
    expect![[r#"{"actor":"user:bob","fields":{"note":"tab\there \"quoted\" back\\slash\u0001 nul\u0000 é 🦀"},"kind":"break_glass","outcome":"failure","subject":"policy:prod-deploy-freeze","time":"2025-01-01T00:00:00.000000Z","version":1}"#]]
    .assert_eq(&canonical(&escapes));
}

#[test]
fn round_trips() {
    let mut entries = vec![sample()];
    for (i, kind) in EntryKind::ALL.iter().enumerate() {
        let mut e = Entry::new(
            *kind,
            Timestamp::from_unix_micros(1_700_000_000_000_000 + i as i64 * 1_234_567).unwrap(),
            format!("svc:{i}"),
            format!("subject/{i}"),
            if i % 2 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        );
        if i % 3 == 0 {
            e = e.with_decision(Decision::Allow);
        }
        if i % 4 == 1 {
            e = e.with_origin(Origin {
                ip: Some(IpAddr::from([10, 0, 0, i as u8])),
                ..Origin::default()
            });
        }
        if i % 5 == 2 {
            e = e
                .with_field("z", "last")
                .with_field("a.b-c_d", "")
                .with_field("m9", "\n\r\u{8}\u{c}\u{1f}");
        }
        entries.push(e);
    }
    for e in entries {
        let bytes = e.to_canonical_bytes().unwrap();
        let back = Entry::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_canonical_bytes().unwrap(), bytes);
        assert_eq!(e.leaf_hash().unwrap(), leaf_hash(&bytes));
        // The bytes are ordinary JSON too.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["kind"], e.kind.as_str());
    }
}

#[test]
fn non_canonical_variants_are_rejected() {
    let good = canonical(&sample());
    Entry::from_canonical_bytes(good.as_bytes()).unwrap();
    let digest = sample().payload_sha256.unwrap().to_hex();
    let variants: Vec<(&str, String)> = vec![
        ("leading space", format!(" {good}")),
        ("trailing newline", format!("{good}\n")),
        (
            "space after colon",
            good.replacen("\"actor\":", "\"actor\": ", 1),
        ),
        (
            "space after comma",
            good.replacen(",\"kind\"", ", \"kind\"", 1),
        ),
        (
            "keys reordered",
            good.replacen("\"outcome\":\"success\",", "", 1).replacen(
                "\"subject\"",
                "\"outcome\":\"success\",\"subject\"",
                1,
            ),
        ),
        (
            "field keys unsorted",
            good.replacen(
                "\"bundle\":\"prod@42\",\"policy_id\":\"no-secrets-in-prompts\"",
                "\"policy_id\":\"no-secrets-in-prompts\",\"bundle\":\"prod@42\"",
                1,
            ),
        ),
        (
            "escaped plain char",
            good.replacen("alice", "\\u0061lice", 1),
        ),
        (
            "escaped slash",
            good.replacen("repo:payments-api", "repo:payments\\/api", 1),
        ),
        (
            "uppercase digest",
            good.replacen(&digest, &digest.to_uppercase(), 1),
        ),
        (
            "version as float",
            good.replacen("\"version\":1", "\"version\":1.0", 1),
        ),
        (
            "version with zero",
            good.replacen("\"version\":1", "\"version\":01", 1),
        ),
        (
            "offset time",
            good.replacen("14:09:26.535897Z", "15:09:26.535897+01:00", 1),
        ),
        ("lowercase z", good.replacen("535897Z", "535897z", 1)),
        (
            "millisecond time",
            good.replacen("26.535897Z", "26.535Z", 1),
        ),
        (
            "nanosecond time",
            good.replacen("26.535897Z", "26.535897000Z", 1),
        ),
        (
            "null decision",
            good.replacen("\"decision\":\"deny\"", "\"decision\":null", 1),
        ),
        (
            "empty origin",
            canonical(&Entry {
                origin: Origin::default(),
                ..sample()
            })
            .replacen(",\"outcome\"", ",\"origin\":{},\"outcome\"", 1),
        ),
        (
            "empty fields",
            canonical(&Entry {
                fields: Default::default(),
                ..sample()
            })
            .replacen(",\"kind\"", ",\"fields\":{},\"kind\"", 1),
        ),
        (
            "uncompressed ipv6",
            good.replacen("2001:db8::17", "2001:db8:0:0:0:0:0:17", 1),
        ),
        (
            "uppercase ipv6",
            good.replacen("2001:db8::17", "2001:DB8::17", 1),
        ),
        (
            "duplicate field key",
            good.replacen(
                "\"bundle\":\"prod@42\"",
                "\"bundle\":\"x\",\"bundle\":\"prod@42\"",
                1,
            ),
        ),
        ("byte order mark", format!("\u{feff}{good}")),
    ];
    for (what, bytes) in variants {
        assert_ne!(bytes, good, "{what}: variant must differ");
        let err = Entry::from_canonical_bytes(bytes.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                EntryError::NotCanonical
                    | EntryError::Json(_)
                    | EntryError::InvalidTime(_)
                    | EntryError::InvalidDigest(_)
            ),
            "{what}: {err:?}"
        );
    }

    let cases: Vec<(String, EntryError)> = vec![
        (
            good.replacen("\"version\":1", "\"version\":2", 1),
            EntryError::UnsupportedVersion(2),
        ),
        (
            good.replacen(&digest, "abc", 1),
            EntryError::InvalidDigest("abc".into()),
        ),
        (
            good.replacen("2001:db8::17", "not-an-ip", 1),
            EntryError::InvalidIp("not-an-ip".into()),
        ),
        (
            good.replacen("\"actor\":\"user:alice@example.com\"", "\"actor\":\"\"", 1),
            EntryError::Empty("actor".into()),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Entry::from_canonical_bytes(bytes.as_bytes()), Err(want));
    }
    for (what, bytes) in [
        (
            "unknown field",
            good.replacen("\"version\":1", "\"extra\":1,\"version\":1", 1),
        ),
        (
            "unknown kind",
            good.replacen("policy_decision", "coffee_break", 1),
        ),
        (
            "unknown outcome",
            good.replacen("\"success\"", "\"maybe\"", 1),
        ),
        (
            "missing subject",
            good.replacen("\"subject\":\"repo:payments-api\",", "", 1),
        ),
        ("not an object", "[1]".into()),
        ("no version", "{}".into()),
    ] {
        assert!(
            matches!(
                Entry::from_canonical_bytes(bytes.as_bytes()),
                Err(EntryError::Json(_))
            ),
            "{what}"
        );
    }
}

#[test]
fn validation_limits() {
    let e = sample();
    assert_eq!(
        Entry {
            actor: String::new(),
            ..e.clone()
        }
        .to_canonical_bytes(),
        Err(EntryError::Empty("actor".into()))
    );
    assert!(matches!(
        Entry {
            subject: "s".repeat(513),
            ..e.clone()
        }
        .to_canonical_bytes(),
        Err(EntryError::TooLong { max: 512, .. })
    ));
    for bad in ["", "Upper", "1abc", "sp ace", "ünï", &"a".repeat(65)] {
        assert_eq!(
            e.clone().with_field(bad, "v").to_canonical_bytes(),
            Err(EntryError::InvalidFieldName(bad.into())),
            "{bad:?}"
        );
    }
    let mut many = e.clone();
    for i in 0..MAX_FIELDS {
        many = many.with_field(format!("f{i}"), "v");
    }
    assert!(matches!(
        many.to_canonical_bytes(),
        Err(EntryError::TooManyFields { .. })
    ));
    assert!(matches!(
        e.clone()
            .with_field("big", "x".repeat(1025))
            .to_canonical_bytes(),
        Err(EntryError::TooLong { .. })
    ));
    let mut large = e.clone();
    for i in 0..20 {
        large = large.with_field(format!("f{i}"), "\u{1}".repeat(1000));
    }
    assert!(matches!(
        large.to_canonical_bytes(),
        Err(EntryError::TooLarge {
            max: MAX_ENTRY_BYTES,
            ..
        })
    ));
    assert_eq!(
        Entry {
            version: 2,
            ..e.clone()
        }
        .to_canonical_bytes(),
        Err(EntryError::UnsupportedVersion(2))
    );
    assert!(matches!(
        Entry::from_canonical_bytes(&vec![b' '; MAX_ENTRY_BYTES + 1]),
        Err(EntryError::TooLarge { .. })
    ));
}

#[test]
fn timestamps_are_utc_microseconds() {
    let t = Timestamp::new(datetime!(2025-06-30 23:59:59.999999999 -02:00)).unwrap();
    assert_eq!(t.to_string(), "2025-07-01T01:59:59.999999Z");
    assert_eq!(Timestamp::parse("2025-07-01T01:59:59.999999Z").unwrap(), t);
    assert_eq!(Timestamp::from_unix_micros(t.unix_micros()).unwrap(), t);
    assert_eq!(
        Timestamp::from_unix_micros(0).unwrap().to_string(),
        "1970-01-01T00:00:00.000000Z"
    );
    for bad in [
        "2025-07-01T01:59:59Z",
        "2025-07-01T01:59:59.999999+00:00",
        "2025-07-01 01:59:59.999999Z",
        "2025-07-01T01:59:59.9999990Z",
        "2025-13-01T01:59:59.999999Z",
    ] {
        assert_eq!(
            Timestamp::parse(bad),
            Err(EntryError::InvalidTime(bad.into())),
            "{bad}"
        );
    }
    assert_eq!(
        Timestamp::new(datetime!(-0001-01-01 00:00 UTC)),
        Err(EntryError::TimeOutOfRange)
    );
}
