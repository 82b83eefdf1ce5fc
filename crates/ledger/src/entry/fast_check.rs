//! An allocation-free check that bytes are a canonical version 1 entry, for whole-log
//! verification. Sound, not complete: it answers `true` only for bytes that
//! [`Entry::from_canonical_bytes`](super::Entry::from_canonical_bytes) accepts, and `false`
//! whenever it is unsure (an escape in a string, an IPv6 origin, anything unexpected), so the
//! caller falls back to the full decoder, which has the final word.
//!
//! It walks the one shape the encoder writes: every key in its fixed order, strings without
//! escapes (then the encoded form is the text itself), and each value within the limits
//! [`Entry::validate`](super::Entry::validate) enforces.

use time::{Date, Month, Time};

use super::{
    EntryKind, MAX_ENTRY_BYTES, MAX_FIELD_VALUE, MAX_FIELDS, MAX_IDENTIFIER, is_field_name,
};

/// Whether `bytes` certainly are a canonical entry (`false` means "not known").
pub(super) fn is_canonical(bytes: &[u8]) -> bool {
    check(bytes).is_some()
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` if the input continues with it.
    fn lit(&mut self, lit: &[u8]) -> bool {
        let found = self.b[self.at..].starts_with(lit);
        if found {
            self.at += lit.len();
        }
        found
    }

    /// A string with nothing escaped and no control characters, as valid UTF-8.
    fn plain_str(&mut self) -> Option<&'a str> {
        if !self.lit(b"\"") {
            return None;
        }
        let rest = &self.b[self.at..];
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at += len + 1;
        std::str::from_utf8(&rest[..len]).ok()
    }

    /// An actor, subject, host or replica: non-empty, at most [`MAX_IDENTIFIER`] bytes.
    fn ident(&mut self) -> Option<()> {
        let s = self.plain_str()?;
        (!s.is_empty() && s.len() <= MAX_IDENTIFIER).then_some(())
    }
}

/// The origin's parts in order: the key as the first part, as a later part, and whether it is
/// the IP address.
const ORIGIN_PARTS: [(&[u8], &[u8], bool); 3] = [
    (b"\"host\":", b",\"host\":", false),
    (b"\"ip\":", b",\"ip\":", true),
    (b"\"replica\":", b",\"replica\":", false),
];

fn check(bytes: &[u8]) -> Option<()> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return None;
    }
    let mut c = Cursor { b: bytes, at: 0 };
    c.lit(b"{\"actor\":").then_some(())?;
    c.ident()?;
    if c.lit(b",\"decision\":") {
        (c.lit(b"\"allow\"") || c.lit(b"\"deny\"")).then_some(())?;
    }
    if c.lit(b",\"fields\":{") {
        // At least one field (an empty map is left out), names strictly increasing (the
        // encoder writes a sorted map).
        let mut previous: Option<&str> = None;
        let mut count = 0;
        loop {
            let name = c.plain_str()?;
            if !is_field_name(name) || previous.is_some_and(|p| p >= name) {
                return None;
            }
            c.lit(b":").then_some(())?;
            if c.plain_str()?.len() > MAX_FIELD_VALUE {
                return None;
            }
            count += 1;
            if count > MAX_FIELDS {
                return None;
            }
            previous = Some(name);
            if c.lit(b"}") {
                break;
            }
            c.lit(b",").then_some(())?;
        }
    }
    c.lit(b",\"kind\":").then_some(())?;
    let kind = c.plain_str()?;
    EntryKind::ALL
        .iter()
        .any(|k| k.as_str() == kind)
        .then_some(())?;
    if c.lit(b",\"origin\":{") {
        // At least one part (an empty origin is left out), in the order host, ip, replica.
        let mut any = false;
        for (first, later, is_ip) in ORIGIN_PARTS {
            if c.lit(if any { later } else { first }) {
                if is_ip {
                    canonical_ipv4(c.plain_str()?)?;
                } else {
                    c.ident()?;
                }
                any = true;
            }
        }
        (any && c.lit(b"}")).then_some(())?;
    }
    c.lit(b",\"outcome\":").then_some(())?;
    (c.lit(b"\"success\"") || c.lit(b"\"failure\"")).then_some(())?;
    if c.lit(b",\"payload_sha256\":") {
        let digest = c.plain_str()?;
        (digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then_some(())?;
    }
    c.lit(b",\"subject\":").then_some(())?;
    c.ident()?;
    c.lit(b",\"time\":").then_some(())?;
    canonical_time(c.plain_str()?)?;
    c.lit(b",\"version\":1}").then_some(())?;
    (c.at == bytes.len()).then_some(())
}

/// Dotted decimal without leading zeros, as `Ipv4Addr` writes it.
fn canonical_ipv4(s: &str) -> Option<()> {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u16>().is_ok_and(|v| v <= 255);
        if !ok {
            return None;
        }
    }
    (parts == 4).then_some(())
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, a real date and time of day (no leap second), year 0001
/// or later.
fn canonical_time(s: &str) -> Option<()> {
    let b = s.as_bytes();
    if b.len() != 27 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, &d| n * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(num(0, 4)).ok().filter(|&y| y >= 1)?;
    let month = Month::try_from(u8::try_from(num(5, 7)).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(num(8, 10)).ok()?).ok()?;
    Time::from_hms_micro(
        u8::try_from(num(11, 13)).ok()?,
        u8::try_from(num(14, 16)).ok()?,
        u8::try_from(num(17, 19)).ok()?,
        num(20, 26),
    )
    .ok()?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::is_canonical;
    use crate::entry::{Decision, Entry, EntryKind, Origin, Outcome, Timestamp};
    use crate::hash::sha256;

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_unix_micros(micros).unwrap()
    }

    fn base(actor: &str) -> Entry {
        Entry::new(
            EntryKind::PolicyDecision,
            at(1_741_961_366_535_897),
            actor,
            "repo:payments-api",
            Outcome::Success,
        )
    }

    /// Valid entries and whether the fast path should take them.
    fn samples() -> Vec<(Entry, bool)> {
        let full = base("user:alice@example.com")
            .with_decision(Decision::Deny)
            .with_origin(Origin {
                ip: Some("10.0.255.7".parse().unwrap()),
                host: Some("ci-runner-3.example.com".into()),
                replica: Some("aigov-1".into()),
            })
            .with_payload_sha256(sha256(b"payload"))
            .with_field("bundle", "prod@42")
            .with_field("policy_id", "no-secrets")
            .with_field("request_id", "01JQ8Z6W3J5T4K2M9N7P");
        let mut many = base("bob");
        many.fields = (0..32)
            .map(|i| (format!("f{i:02}"), "x".repeat(i)))
            .collect();
        let mut e = vec![
            (base("a"), true),
            (full.clone(), true),
            (many, true),
            (base("ünïcødé 日本 🦀").with_decision(Decision::Allow), true),
            (base(&"x".repeat(512)), true),
        ];
        for (origin, fast) in [
            (
                Origin {
                    host: Some("h".into()),
                    ..Origin::default()
                },
                true,
            ),
            (
                Origin {
                    ip: Some("0.0.0.0".parse().unwrap()),
                    ..Origin::default()
                },
                true,
            ),
            (
                Origin {
                    replica: Some("r".into()),
                    ..Origin::default()
                },
                true,
            ),
            (
                Origin {
                    ip: Some("2001:db8::17".parse().unwrap()),
                    ..Origin::default()
                },
                false,
            ),
        ] {
            e.push((base("a").with_origin(origin), fast));
        }
        for micros in [
            -62_135_596_800_000_000, // 0001-01-01
            -62_167_219_200_000_000, // 0000-01-01: left to the full decoder
            1_709_164_800_000_000,   // 2024-02-29
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ] {
            let mut x = base("a");
            x.time = at(micros);
            e.push((x, micros > -62_167_219_200_000_000));
        }
        for escaped in ["quote\"", "back\\slash", "new\nline", "bell\u{7}", "tab\t"] {
            e.push((base(escaped), false));
            e.push((base("a").with_field("note", escaped), false));
        }
        for kind in EntryKind::ALL {
            let mut x = full.clone();
            x.kind = kind;
            x.outcome = Outcome::Failure;
            e.push((x, true));
        }
        e
    }

    /// Hand-made bytes the encoder never writes.
    fn non_canonical() -> Vec<String> {
        let good = String::from_utf8(base("a").to_canonical_bytes().unwrap()).unwrap();
        let with = |from: &str, to: &str| {
            assert!(good.contains(from), "{from}");
            good.replacen(from, to, 1)
        };
        let time = "\"time\":\"2025-03-14T14:09:26.535897Z\"";
        vec![
            with("\"kind\"", "\"fields\":{},\"kind\""),
            with("\"kind\"", "\"fields\":{\"b\":\"1\",\"a\":\"2\"},\"kind\""),
            with("\"kind\"", "\"fields\":{\"a\":\"1\",\"a\":\"2\"},\"kind\""),
            with("\"kind\"", "\"fields\":{\"A\":\"1\"},\"kind\""),
            with(
                "\"kind\"",
                &format!("\"fields\":{{\"a\":\"{}\"}},\"kind\"", "x".repeat(1025)),
            ),
            with("\"outcome\"", "\"origin\":{},\"outcome\""),
            with(
                "\"outcome\"",
                "\"origin\":{\"ip\":\"010.0.0.1\"},\"outcome\"",
            ),
            with(
                "\"outcome\"",
                "\"origin\":{\"ip\":\"256.0.0.1\"},\"outcome\"",
            ),
            with("\"outcome\"", "\"origin\":{\"ip\":\"1.2.3\"},\"outcome\""),
            with(
                "\"outcome\"",
                "\"origin\":{\"replica\":\"r\",\"host\":\"h\"},\"outcome\"",
            ),
            with("\"outcome\"", "\"origin\":{\"host\":\"\"},\"outcome\""),
            with(
                "\"subject\"",
                &format!("\"payload_sha256\":\"{}\",\"subject\"", "A".repeat(64)),
            ),
            with(
                "\"subject\"",
                &format!("\"payload_sha256\":\"{}\",\"subject\"", "a".repeat(63)),
            ),
            with(time, "\"time\":\"2025-03-14T14:09:26.535897z\""),
            with(time, "\"time\":\"2025-03-14T14:09:26.5358970Z\""),
            with(time, "\"time\":\"2025-03-14T23:59:60.000000Z\""),
            with(time, "\"time\":\"2025-02-29T14:09:26.535897Z\""),
            with(time, "\"time\":\"2025-03-14T24:00:00.000000Z\""),
            with(time, "\"time\":\"2025-03-14 14:09:26.535897Z\""),
            with(time, "\"time\":\"2025-03-14T14:09:26.535897+00:00\""),
            with("\"version\":1", "\"version\":2"),
            with("\"version\":1", "\"version\":1.0"),
            with("\"version\":1", "\"version\":01"),
            with("{\"actor\":\"a\"", "{\"actor\":\"\""),
            with(
                "{\"actor\":\"a\"",
                &format!("{{\"actor\":\"{}\"", "x".repeat(513)),
            ),
            with("{\"actor\":\"a\"", "{\"actor\":\"\\u0061\""),
            with("{\"actor\":\"a\"", "{ \"actor\":\"a\""),
            with("\"kind\":\"policy_decision\"", "\"kind\":\"policy\""),
            with("\"outcome\":\"success\"", "\"outcome\":\"Success\""),
            format!("{good}\n"),
            good.replacen(",\"version\":1}", ",\"version\":1,\"extra\":1}", 1),
        ]
    }

    /// Single-byte deletions, replacements, insertions and swaps of `bytes`.
    fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
        const BYTES: &[u8] = b"\"\\,:{}0aZ \x01\xff";
        let mut out = Vec::new();
        for i in 0..bytes.len() {
            let mut v = bytes.to_vec();
            v.remove(i);
            out.push(v);
            for &b in BYTES {
                let mut v = bytes.to_vec();
                v[i] = b;
                out.push(v);
                let mut v = bytes.to_vec();
                v.insert(i, b);
                out.push(v);
            }
            if i + 1 < bytes.len() {
                let mut v = bytes.to_vec();
                v.swap(i, i + 1);
                out.push(v);
            }
        }
        out
    }

    /// The property that matters: the fast path never accepts what the decoder rejects.
    fn assert_agrees(bytes: &[u8]) {
        let decoded = Entry::from_canonical_bytes(bytes);
        if is_canonical(bytes) {
            assert!(
                decoded.is_ok(),
                "fast path accepted what the decoder rejects ({:?}): {}",
                decoded.err(),
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            Entry::check_canonical(bytes).is_ok(),
            decoded.is_ok(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[test]
    fn typical_entries_take_the_fast_path_and_unusual_ones_the_decoder() {
        for (entry, fast) in samples() {
            let bytes = entry.to_canonical_bytes().unwrap();
            assert_eq!(
                is_canonical(&bytes),
                fast,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(Entry::check_canonical(&bytes), Ok(()));
        }
    }

    #[test]
    fn never_accepts_what_the_decoder_rejects() {
        for text in non_canonical() {
            assert!(!is_canonical(text.as_bytes()), "fast path accepted {text}");
            assert_agrees(text.as_bytes());
        }
        let mut mutated = 0;
        // The last samples differ only in kind and are checked unmutated above.
        let samples = samples();
        for (entry, _) in &samples[..samples.len() + 1 - EntryKind::ALL.len()] {
            for bytes in mutations(&entry.to_canonical_bytes().unwrap()) {
                assert_agrees(&bytes);
                mutated += 1;
            }
        }
        assert!(mutated > 50_000, "{mutated}");
    }
}
