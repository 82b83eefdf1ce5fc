//! Personal data: e-mail addresses, payment cards (Luhn and issuer prefix), IBANs (mod-97 and
//! country length), US SSNs (invalid ranges excluded), public IPv4 addresses, phone numbers in
//! international form. Candidates come from one regex pass; validators decide.

use regex::bytes::Regex;

use crate::{Confidence, Finding, Kind};

/// The personal-data types the detector reports (its findings' family and rule id).
pub const PII_FAMILIES: &[&str] = &[
    "email",
    "phone-number",
    "credit-card",
    "us-ssn",
    "iban",
    "ip-address",
];

/// Separate regexes keep each one's fast path (a combined alternation runs at a fraction of
/// the speed): digit-led candidates, IBANs by country code, phone numbers after `+`.
#[derive(Debug)]
pub(crate) struct Detector {
    digits: Regex,
    iban: Regex,
    phone: Regex,
    email: Regex,
}

impl Detector {
    pub(crate) fn new() -> Detector {
        let re = |p: &str| Regex::new(&format!("(?-u){p}")).expect("PII regexes are valid");
        Detector {
            digits: re(
                r"(?P<card>\b\d(?:[ \-]?\d){12,18}\b)|(?P<ssn>\b\d{3}-\d{2}-\d{4}\b)|(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}\b)",
            ),
            iban: re(
                r"\b(?:AD|AT|BE|BG|CH|CY|CZ|DE|DK|EE|ES|FI|FR|GB|GR|HR|HU|IE|IS|IT|LI|LT|LU|LV|MC|MT|NL|NO|PL|PT|RO|SE|SI|SK|SM)\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            ),
            phone: re(r"\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?)(?:[ .\-]?\d{2,4}){2,4}\b"),
            email: re(
                r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}\b",
            ),
        }
    }

    pub(crate) fn scan(&self, text: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut push = |family: &'static str, span: std::ops::Range<usize>, confidence| {
            let family: std::sync::Arc<str> = std::sync::Arc::from(family);
            out.push(Finding {
                rule_id: family.clone(),
                family,
                kind: Kind::Pii,
                span,
                confidence,
            });
        };
        for caps in self.digits.captures_iter(text) {
            let (family, m, valid, confidence): (_, _, fn(&[u8]) -> bool, _) =
                if let Some(m) = caps.name("card") {
                    ("credit-card", m, is_card, Confidence::High)
                } else if let Some(m) = caps.name("ssn") {
                    ("us-ssn", m, is_ssn, Confidence::Medium)
                } else if let Some(m) = caps.name("ip") {
                    ("ip-address", m, is_public_ipv4, Confidence::Low)
                } else {
                    continue;
                };
            if valid(m.as_bytes()) && !in_other_context(family, text, m.range()) {
                push(family, m.range(), confidence);
            }
        }
        for m in self.iban.find_iter(text) {
            if is_iban(m.as_bytes()) {
                push("iban", m.range(), Confidence::High);
            }
        }
        for m in self.phone.find_iter(text) {
            let digits = m.as_bytes().iter().filter(|b| b.is_ascii_digit()).count();
            if (8..=15).contains(&digits) {
                push("phone-number", m.range(), Confidence::Low);
            }
        }
        // E-mail candidates only around `@`, which is rare enough in code to make this cheap.
        let mut searched_to = 0;
        for at in memchr_iter(b'@', text) {
            if at < searched_to {
                continue;
            }
            let start = at.saturating_sub(64).max(searched_to);
            let end = (at + 256).min(text.len());
            if let Some(m) = self.email.find(&text[start..end]) {
                let span = start + m.start()..start + m.end();
                if !is_example_email(&text[span.clone()]) && !is_git_remote(text, span.clone()) {
                    push("email", span.clone(), Confidence::Medium);
                }
                searched_to = span.end;
            } else {
                searched_to = at + 1;
            }
        }
        out.sort_by_key(|f| f.span.start);
        out
    }
}

fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |(_, b)| **b == needle)
        .map(|(i, _)| i)
}

fn digits(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

/// Luhn checksum, issuer prefix and length, and not a trivial run of one digit.
pub(crate) fn is_card(s: &[u8]) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let prefix = |n: usize| d[..n].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    // Issuer prefix with that issuer's card lengths.
    let n = d.len();
    let issuer = match () {
        // Visa's 13-digit numbers are no longer issued; 13 digits are far more often phone
        // numbers (`+49 …`) and ids.
        _ if d[0] == 4 => matches!(n, 16 | 19),
        _ if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => n == 16,
        _ if matches!(prefix(2), 34 | 37) => n == 15,
        _ if matches!(prefix(2), 36 | 38) => (14..=19).contains(&n),
        _ if prefix(4) == 6011 || prefix(2) == 65 || (3528..=3589).contains(&prefix(4)) => {
            (16..=19).contains(&n)
        }
        _ => false,
    };
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                if x * 2 > 9 { x * 2 - 9 } else { x * 2 }
            } else {
                x
            }
        })
        .sum();
    issuer && sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` outside the never-issued ranges (area 000, 666, 900–999; group 00; serial 0000)
/// and the well-known advertising numbers.
pub(crate) fn is_ssn(s: &[u8]) -> bool {
    let d = digits(s);
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && s != b"078-05-1120"
        && s != b"219-09-9999"
}

/// Country code with its registered IBAN length, and the mod-97 check.
pub(crate) fn is_iban(s: &[u8]) -> bool {
    const LENGTHS: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AT", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"CH", 21),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"EE", 20),
        (b"ES", 24),
        (b"FI", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GR", 27),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IS", 26),
        (b"IT", 27),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MT", 31),
        (b"NL", 18),
        (b"NO", 15),
        (b"PL", 28),
        (b"PT", 25),
        (b"RO", 24),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
    ];
    let compact: Vec<u8> = s.iter().copied().filter(|b| *b != b' ').collect();
    let Some((_, len)) = LENGTHS.iter().find(|(cc, _)| compact.starts_with(&cc[..])) else {
        return false;
    };
    if compact.len() != *len {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A dotted quad in a public range (not private, loopback, link-local, documentation, multicast).
pub(crate) fn is_public_ipv4(s: &[u8]) -> bool {
    let mut o = [0u32; 4];
    for (i, part) in s.split(|&b| b == b'.').enumerate() {
        if i >= 4 || part.is_empty() || (part.len() > 1 && part[0] == b'0') {
            return false;
        }
        o[i] = part.iter().fold(0, |a, &b| a * 10 + u32::from(b - b'0'));
        if o[i] > 255 {
            return false;
        }
    }
    !(o[0] == 0
        // Network and broadcast addresses name no host; `x.0.0.0` is also the shape of
        // versions (`Chrome/124.0.0.0`, `AssemblyVersion("3.1.0.0")`).
        || o[3] == 0
        || o[3] == 255
        || o[0] == 10
        || o[0] == 127
        || o[0] >= 224
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || (o[0] == 192 && o[1] == 0 && o[2] == 2)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113))
}

/// Digit runs that belong to something larger: a card number right after `+` is a phone
/// number; a dotted quad inside a longer dotted sequence is an OID or a version.
fn in_other_context(family: &str, text: &[u8], span: std::ops::Range<usize>) -> bool {
    let before = span.start.checked_sub(1).map(|i| text[i]);
    let after = text.get(span.end).copied();
    let after2 = text.get(span.end + 1).copied();
    match family {
        "credit-card" => before == Some(b'+'),
        "ip-address" => {
            before == Some(b'.')
                || (after == Some(b'.') && after2.is_some_and(|b| b.is_ascii_digit()))
        }
        _ => false,
    }
}

/// `git@github.com:org/repo.git`, `ssh://git@host/…`: a remote, not a person's address.
fn is_git_remote(text: &[u8], span: std::ops::Range<usize>) -> bool {
    let found = &text[span.clone()];
    found.starts_with(b"git@") || text[..span.start].ends_with(b"://")
}

/// Addresses at the documentation domains are examples, not personal data.
fn is_example_email(s: &[u8]) -> bool {
    let lower = s.to_ascii_lowercase();
    [
        &b"@example.com"[..],
        b"@example.org",
        b"@example.net",
        b".example",
    ]
    .iter()
    .any(|d| lower.ends_with(d))
        || lower.ends_with(b".invalid")
        || lower.ends_with(b".test")
}
