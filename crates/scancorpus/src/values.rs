//! Random values in each provider's public format (with checksums where real tokens carry
//! them), personal data that passes its validators, and near-misses that must not be flagged.

use crate::codec::{base64, crc32, encode_radix, iban_check_digits, luhn_check_digit};
use crate::prng::{
    ALPHA, BASE32, BASE62, BASE64, BASE64URL, DIGITS, HEX, LOWER, LOWER_DIGITS, Rng, UPPER,
    UPPER_DIGITS,
};

/// Secret families, as the scanner names them.
pub const SECRET_FAMILIES: &[&str] = &[
    "aws-access-key",
    "aws-secret-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "openai-api-key",
    "anthropic-api-key",
    "google-api-key",
    "sendgrid-api-key",
    "npm-token",
    "pypi-token",
    "huggingface-token",
    "azure-storage-key",
    "private-key",
    "jwt",
    "connection-string",
    "generic-secret",
];

/// Personal-data families, as the scanner names them.
pub use scanner::PII_FAMILIES;

/// A generated value and the name of its format variant (reported with misses).
#[derive(Debug, Clone)]
pub struct Value {
    pub text: String,
    pub variant: &'static str,
}

fn v(text: String, variant: &'static str) -> Value {
    Value { text, variant }
}

/// GitHub's and npm's checksummed format: 30 random base62 characters and the CRC-32 of
/// those 30, in base62, left-padded to 6.
fn checksummed_base62(rng: &mut Rng) -> String {
    let body = rng.string(BASE62, 30);
    let sum = encode_radix(u64::from(crc32(body.as_bytes())), BASE62, 6);
    format!("{body}{sum}")
}

/// A random value of a secret family.
pub fn secret(rng: &mut Rng, family: &str) -> Value {
    match family {
        "aws-access-key" => {
            let prefix = rng.weighted(&[(85, "AKIA"), (15, "ASIA")]);
            let variant = if prefix == "AKIA" { "AKIA" } else { "ASIA" };
            v(format!("{prefix}{}", rng.string(BASE32, 16)), variant)
        }
        "aws-secret-key" => v(rng.string(BASE64, 40), "40-base64"),
        "github-token" => match rng.weighted(&[(60, 0), (10, 1), (10, 2), (5, 3), (15, 4)]) {
            0 => v(format!("ghp_{}", checksummed_base62(rng)), "ghp"),
            1 => v(format!("gho_{}", checksummed_base62(rng)), "gho"),
            2 => v(format!("ghs_{}", checksummed_base62(rng)), "ghs"),
            3 => v(format!("ghu_{}", checksummed_base62(rng)), "ghu"),
            _ => v(
                format!(
                    "github_pat_11{}_{}",
                    rng.string(UPPER_DIGITS, 20),
                    rng.string(BASE62, 59)
                ),
                "github_pat",
            ),
        },
        "gitlab-token" => {
            if rng.percent(75) {
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                v(
                    format!("glpat-{}", rng.string(alphabet, 20)),
                    "glpat-legacy",
                )
            } else {
                // Routable PAT (GitLab 17+): base64url payload, `.`, 2-char version/length
                // and a 7-char base36 CRC-32.
                let n = rng.range(20, 27);
                let payload = base64(&rng.bytes(n), true, false);
                let head = format!("glpat-{payload}.01");
                let crc = encode_radix(u64::from(crc32(head.as_bytes())), LOWER_DIGITS_36, 7);
                v(format!("{head}{crc}"), "glpat-routable")
            }
        }
        "slack-token" => match rng.weighted(&[(55, 0), (30, 1), (15, 2)]) {
            0 => v(
                format!(
                    "xoxb-{}-{}-{}",
                    rng.string_between(DIGITS, 11, 13),
                    rng.string(DIGITS, 13),
                    rng.string(BASE62, 24)
                ),
                "xoxb",
            ),
            1 => v(
                format!(
                    "xoxp-{}-{}-{}-{}",
                    rng.string_between(DIGITS, 11, 13),
                    rng.string_between(DIGITS, 11, 13),
                    rng.string(DIGITS, 13),
                    rng.string(HEX, 32)
                ),
                "xoxp",
            ),
            _ => v(
                format!(
                    "xapp-1-A{}-{}-{}",
                    rng.string(UPPER_DIGITS, 10),
                    rng.string(DIGITS, 13),
                    rng.string(HEX, 64)
                ),
                "xapp",
            ),
        },
        "slack-webhook" => v(
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                rng.string_between(UPPER_DIGITS, 8, 10),
                rng.string_between(UPPER_DIGITS, 8, 10),
                rng.string(BASE62, 24)
            ),
            "services",
        ),
        "stripe-key" => {
            let prefix = rng.weighted(&[(60, "sk_live_"), (15, "rk_live_"), (25, "sk_test_")]);
            if rng.percent(70) {
                v(
                    format!("{prefix}51{}", rng.string(BASE62, 97)),
                    "stripe-107",
                )
            } else {
                v(format!("{prefix}{}", rng.string(BASE62, 24)), "stripe-32")
            }
        }
        "openai-api-key" => {
            let alphabet = BASE64URL;
            match rng.weighted(&[(70, 0), (10, 1), (5, 2), (15, 3)]) {
                3 => v(
                    format!(
                        "sk-{}T3BlbkFJ{}",
                        rng.string(BASE62, 20),
                        rng.string(BASE62, 20)
                    ),
                    "sk-legacy",
                ),
                k => {
                    let (prefix, variant) = [
                        ("sk-proj-", "sk-proj"),
                        ("sk-svcacct-", "sk-svcacct"),
                        ("sk-admin-", "sk-admin"),
                    ][k];
                    v(
                        format!(
                            "{prefix}{}T3BlbkFJ{}",
                            rng.string(alphabet, 74),
                            rng.string(alphabet, 74)
                        ),
                        variant,
                    )
                }
            }
        }
        "anthropic-api-key" => {
            let (kind, variant) =
                rng.weighted(&[(90, ("api03", "api03")), (10, ("admin01", "admin01"))]);
            v(
                format!("sk-ant-{kind}-{}AA", rng.string(BASE64URL, 93)),
                variant,
            )
        }
        "google-api-key" => v(format!("AIzaSy{}", rng.string(BASE64URL, 33)), "AIza"),
        "sendgrid-api-key" => v(
            format!(
                "SG.{}.{}",
                rng.string(BASE64URL, 22),
                rng.string(BASE64URL, 43)
            ),
            "SG",
        ),
        "npm-token" => v(format!("npm_{}", checksummed_base62(rng)), "npm"),
        "pypi-token" => v(pypi_token(rng), "macaroon"),
        "huggingface-token" => v(format!("hf_{}", rng.string(ALPHA, 34)), "hf"),
        "azure-storage-key" => v(base64(&rng.bytes(64), false, true), "account-key"),
        "private-key" => private_key(rng),
        "jwt" => jwt(rng),
        "connection-string" => unreachable!("connection strings are built by their contexts"),
        "generic-secret" => generic_secret(rng),
        other => panic!("no generator for secret family {other}"),
    }
}

const LOWER_DIGITS_36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A PyPI API token: `pypi-` and a base64url macaroon whose location is `pypi.org`.
fn pypi_token(rng: &mut Rng) -> String {
    let mut m = vec![0x02, 0x01, 0x08];
    m.extend_from_slice(b"pypi.org");
    m.extend_from_slice(&[0x02, 0x24]);
    m.extend_from_slice(uuid(rng).as_bytes());
    m.extend_from_slice(&[0x00, 0x02, 0x2a]);
    if rng.percent(50) {
        m.extend_from_slice(format!("[3,\"{}\"]", uuid(rng)).as_bytes());
    } else {
        m.extend_from_slice(b"{\"version\": 1, \"permissions\": \"user\"}");
    }
    m.extend_from_slice(&[0x00, 0x00, 0x06, 0x20]);
    m.extend(rng.bytes(32));
    format!("pypi-{}", base64(&m, true, false))
}

pub fn uuid(rng: &mut Rng) -> String {
    let h = rng.string(HEX, 32);
    let variant = rng.pick(&['8', '9', 'a', 'b']);
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// A PEM (or OpenSSH) private key block with a realistic DER (or openssh-key-v1) body.
fn private_key(rng: &mut Rng) -> Value {
    let (label, der, width, variant): (&str, Vec<u8>, usize, &'static str) =
        match rng.weighted(&[(30, 0), (35, 1), (15, 2), (20, 3)]) {
            0 => {
                let mut d = vec![
                    0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00,
                ];
                d.extend(rng.bytes(1180));
                ("RSA PRIVATE KEY", d, 64, "rsa-pkcs1")
            }
            1 => {
                let mut d = vec![
                    0x30, 0x82, 0x04, 0xbd, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
                    0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04, 0x82, 0x04, 0xa7,
                    0x30, 0x82, 0x04, 0xa3, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00,
                ];
                d.extend(rng.bytes(1179));
                ("PRIVATE KEY", d, 64, "pkcs8")
            }
            2 => {
                let mut d = vec![0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
                d.extend(rng.bytes(32));
                d.extend_from_slice(&[
                    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1,
                    0x44, 0x03, 0x42, 0x00, 0x04,
                ]);
                d.extend(rng.bytes(64));
                ("EC PRIVATE KEY", d, 64, "ec")
            }
            _ => {
                let mut d = b"openssh-key-v1\0".to_vec();
                d.extend_from_slice(&[0, 0, 0, 4]);
                d.extend_from_slice(b"none");
                d.extend_from_slice(&[0, 0, 0, 4]);
                d.extend_from_slice(b"none");
                d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x33, 0, 0, 0, 0x0b]);
                d.extend_from_slice(b"ssh-ed25519");
                d.extend_from_slice(&[0, 0, 0, 0x20]);
                d.extend(rng.bytes(32));
                d.extend_from_slice(&[0, 0, 0, 0x88]);
                d.extend(rng.bytes(136));
                ("OPENSSH PRIVATE KEY", d, 70, "openssh")
            }
        };
    let body = base64(&der, false, true);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(width) {
        text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----"));
    v(text, variant)
}

const FIRST_NAMES: &[&str] = &[
    "maria", "james", "wei", "fatima", "lukas", "sofia", "oliver", "amara", "noah", "chloe",
    "mateo", "yuki", "aisha", "daniel", "elena", "ravi", "hannah", "omar", "ingrid", "carlos",
    "priya", "tomasz", "leila", "jonas", "grace", "kenji", "nadia", "felix", "zoe", "arjun",
];
const LAST_NAMES: &[&str] = &[
    "gonzalez", "smith", "chen", "haddad", "becker", "rossi", "brown", "okafor", "martin",
    "dubois", "silva", "tanaka", "khan", "cohen", "petrova", "patel", "schmidt", "farouk",
    "larsen", "mendes", "sharma", "nowak", "karimi", "weber", "obrien", "sato", "ivanova",
    "fischer", "nguyen", "iyer",
];

pub fn first_name(rng: &mut Rng) -> &'static str {
    rng.pick(FIRST_NAMES)
}

pub fn last_name(rng: &mut Rng) -> &'static str {
    rng.pick(LAST_NAMES)
}

pub fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A JWT: base64url JSON header and payload, random signature (HS256 or RS256 length).
fn jwt(rng: &mut Rng) -> Value {
    let rs = rng.percent(40);
    let header = if rs {
        format!(
            "{{\"alg\":\"RS256\",\"kid\":\"{}\",\"typ\":\"JWT\"}}",
            rng.string(HEX, 16)
        )
    } else {
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}".to_owned()
    };
    let iat = 1_690_000_000 + rng.below(60_000_000);
    let payload = format!(
        "{{\"sub\":\"{}\",\"name\":\"{} {}\",\"scope\":\"{}\",\"iat\":{},\"exp\":{}}}",
        uuid(rng),
        capitalized(first_name(rng)),
        capitalized(last_name(rng)),
        rng.pick(&["read:orders write:orders", "admin", "openid profile", "api"]),
        iat,
        iat + 3600 * rng.range(1, 720) as u64
    );
    let sig = rng.bytes(if rs { 256 } else { 32 });
    v(
        format!(
            "{}.{}.{}",
            base64(header.as_bytes(), true, false),
            base64(payload.as_bytes(), true, false),
            base64(&sig, true, false)
        ),
        if rs { "RS256" } else { "HS256" },
    )
}

/// A machine-generated password or secret of one of the common shapes.
fn generic_secret(rng: &mut Rng) -> Value {
    match rng.weighted(&[(40, 0), (25, 1), (20, 2), (15, 3)]) {
        0 => {
            let symbols =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%^&*-_=+@";
            let n = rng.range(14, 32);
            v(rng.string(symbols, n), "password")
        }
        1 => {
            let n = rng.pick(&[32, 40, 64]);
            v(rng.string(HEX, n), "hex")
        }
        2 => {
            let django = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
            v(rng.string(django, 50), "django-key")
        }
        _ => {
            let n = rng.range(24, 48);
            v(base64(&rng.bytes(n), false, false), "base64")
        }
    }
}

/// A URL-safe password for a connection string.
pub fn url_password(rng: &mut Rng) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!*";
    let n = rng.range(12, 28);
    let mut p = rng.string(alphabet, n);
    if rng.percent(10) {
        // Percent-encoded reserved characters, as URL builders write them.
        let at = rng.range(1, p.len() - 1);
        p.insert_str(at, rng.pick(&["%40", "%23", "%2F", "%3A"]));
    }
    p
}

pub fn user_name(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!(
            "{}_{}",
            rng.pick(&["app", "svc", "api", "etl", "web"]),
            rng.pick(&["user", "rw", "prod", "admin", "writer"])
        ),
        1 => format!("{}{}", first_name(rng), rng.string(DIGITS, 2)),
        _ => rng
            .pick(&[
                "postgres",
                "admin",
                "orders",
                "analytics",
                "billing",
                "deploy",
            ])
            .to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Personal data

const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "protonmail.com",
    "icloud.com",
    "hotmail.de",
    "web.de",
    "gmx.net",
    "acme-logistics.com",
    "nordwind.io",
    "brightpath.co.uk",
    "zenhealth.org",
    "kontor-berlin.de",
    "fastmail.fm",
    "orange.fr",
    "libero.it",
];

pub fn email(rng: &mut Rng) -> Value {
    let (f, l) = (first_name(rng), last_name(rng));
    let local = match rng.below(5) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}", &f[..1]),
        2 => format!("{f}_{l}{}", rng.range(1, 99)),
        3 => format!("{f}{}", rng.range(1970, 2005)),
        _ => format!("{f}.{l}+{}", rng.pick(&["shop", "news", "work"])),
    };
    let domain = rng.pick(EMAIL_DOMAINS);
    let local = if rng.percent(15) {
        capitalized(&local)
    } else {
        local
    };
    v(format!("{local}@{domain}"), "email")
}

pub fn phone(rng: &mut Rng) -> Value {
    let d = |rng: &mut Rng, n| rng.string(DIGITS, n);
    let nz = |rng: &mut Rng| char::from(b"23456789"[rng.below(8) as usize]);
    match rng.below(9) {
        0 => v(
            format!(
                "+1 ({}{}) {}{}-{}",
                nz(rng),
                d(rng, 2),
                nz(rng),
                d(rng, 2),
                d(rng, 4)
            ),
            "us-paren",
        ),
        1 => v(
            format!(
                "+1 {}{}-{}{}-{}",
                nz(rng),
                d(rng, 2),
                nz(rng),
                d(rng, 2),
                d(rng, 4)
            ),
            "us-dash",
        ),
        2 => v(
            format!(
                "+1{}{}{}{}{}",
                nz(rng),
                d(rng, 2),
                nz(rng),
                d(rng, 2),
                d(rng, 4)
            ),
            "e164-us",
        ),
        3 => v(format!("+44 20 {} {}", d(rng, 4), d(rng, 4)), "uk-london"),
        4 => v(format!("+44 7{} {}", d(rng, 3), d(rng, 6)), "uk-mobile"),
        5 => v(
            format!(
                "+49 {} {}",
                rng.pick(&["30", "89", "40", "151", "160", "176"]),
                d(rng, 8)
            ),
            "de",
        ),
        6 => v(
            format!(
                "+33 {} {} {} {} {}",
                rng.pick(&["1", "6", "7"]),
                d(rng, 2),
                d(rng, 2),
                d(rng, 2),
                d(rng, 2)
            ),
            "fr",
        ),
        7 => v(
            format!("+61 4{} {} {}", d(rng, 2), d(rng, 3), d(rng, 3)),
            "au",
        ),
        _ => v(format!("+91 9{} {}", d(rng, 4), d(rng, 5)), "in"),
    }
}

fn digits_of(s: &str) -> Vec<u8> {
    s.bytes().map(|b| b - b'0').collect()
}

/// A Luhn-valid number with a real issuer prefix and length, written as people write it.
pub fn card(rng: &mut Rng) -> Value {
    let (prefix, len, variant): (String, usize, &'static str) = match rng.below(7) {
        0 | 1 => ("4".into(), 16, "visa"),
        2 => (format!("5{}", rng.range(1, 5)), 16, "mastercard"),
        3 => (format!("{}", rng.range(2221, 2720)), 16, "mastercard-2"),
        4 => (rng.pick(&["34", "37"]).to_string(), 15, "amex"),
        5 => (rng.pick(&["6011", "65"]).to_string(), 16, "discover"),
        _ => (format!("{}", rng.range(3528, 3589)), 16, "jcb"),
    };
    let mut d = digits_of(&prefix);
    while d.len() < len - 1 {
        d.push(rng.below(10) as u8);
    }
    d.push(luhn_check_digit(&d));
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    let text = match (len, rng.below(3)) {
        (15, 0) => format!("{} {} {}", &s[..4], &s[4..10], &s[10..]),
        (16, 0) => format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..]),
        (16, 1) => format!("{}-{}-{}-{}", &s[..4], &s[4..8], &s[8..12], &s[12..]),
        _ => s,
    };
    v(text, variant)
}

/// A Luhn-invalid 16-digit number (order ids, references).
pub fn luhn_invalid_16(rng: &mut Rng) -> String {
    let mut d: Vec<u8> = (0..15).map(|_| rng.below(10) as u8).collect();
    d[0] = rng.pick(&[4, 5]);
    let good = luhn_check_digit(&d);
    d.push((good + 1 + rng.below(9) as u8) % 10);
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// An SSN in the issued ranges (area 001–899 but 666, group 01–99, serial 0001–9999).
pub fn ssn(rng: &mut Rng) -> Value {
    loop {
        let area = rng.range(1, 899);
        let group = rng.range(1, 99);
        let serial = rng.range(1, 9999);
        let s = format!("{area:03}-{group:02}-{serial:04}");
        if area != 666 && s != "078-05-1120" && s != "219-09-9999" && s != "123-45-6789" {
            return v(s, "ssn");
        }
    }
}

/// An SSN-shaped string in a never-issued range.
pub fn invalid_ssn(rng: &mut Rng) -> String {
    let (a, g, s) = (rng.range(1, 899), rng.range(1, 99), rng.range(1, 9999));
    match rng.below(5) {
        0 => format!("000-{g:02}-{s:04}"),
        1 => format!("666-{g:02}-{s:04}"),
        2 => format!("9{:02}-{g:02}-{s:04}", rng.range(0, 99)),
        3 => format!("{a:03}-00-{s:04}"),
        _ => format!("{a:03}-{g:02}-0000"),
    }
}

/// (country, BBAN pattern): `n` digit, `a` upper-case letter, `c` letter or digit.
const IBAN_FORMATS: &[(&str, &str)] = &[
    ("DE", "nnnnnnnnnnnnnnnnnn"),
    ("GB", "aaaannnnnnnnnnnnnn"),
    ("FR", "nnnnnnnnnnnnnnnnnnnnnnn"),
    ("NL", "aaaannnnnnnnnn"),
    ("ES", "nnnnnnnnnnnnnnnnnnnn"),
    ("IT", "annnnnnnnnnnnnnnnnnnnnn"),
    ("BE", "nnnnnnnnnnnn"),
    ("CH", "nnnnnnnnnnnnnnnnn"),
    ("AT", "nnnnnnnnnnnnnnnn"),
    ("IE", "aaaannnnnnnnnnnnnn"),
    ("PL", "nnnnnnnnnnnnnnnnnnnnnnnn"),
    ("SE", "nnnnnnnnnnnnnnnnnnnn"),
    ("DK", "nnnnnnnnnnnnnn"),
    ("NO", "nnnnnnnnnnn"),
    ("FI", "nnnnnnnnnnnnnn"),
    ("PT", "nnnnnnnnnnnnnnnnnnnnn"),
];

fn iban_parts(rng: &mut Rng) -> (String, String) {
    let (cc, pattern) = rng.pick(IBAN_FORMATS);
    let bban: String = pattern
        .bytes()
        .map(|p| match p {
            b'n' => char::from(rng.pick(DIGITS)),
            b'a' => char::from(rng.pick(UPPER)),
            _ => char::from(rng.pick(UPPER_DIGITS)),
        })
        .collect();
    (cc.to_owned(), bban)
}

fn iban_print(compact: &str, grouped: bool) -> String {
    if !grouped {
        return compact.to_owned();
    }
    compact
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn iban(rng: &mut Rng) -> Value {
    let (cc, bban) = iban_parts(rng);
    let check = iban_check_digits(&cc, &bban);
    let compact = format!("{cc}{check}{bban}");
    debug_assert_eq!(crate::codec::iban_remainder(&compact), 1);
    let grouped = rng.percent(50);
    v(
        iban_print(&compact, grouped),
        if grouped { "grouped" } else { "compact" },
    )
}

/// IBAN-shaped, right country length, wrong check digits.
pub fn invalid_iban(rng: &mut Rng) -> String {
    let (cc, bban) = iban_parts(rng);
    loop {
        let compact = format!("{cc}{:02}{bban}", rng.range(2, 98));
        if crate::codec::iban_remainder(&compact) != 1 {
            return iban_print(&compact, rng.percent(50));
        }
    }
}

/// First octets of large public allocations (cloud providers, ISPs); the others are random.
const PUBLIC_FIRST_OCTETS: &[u32] = &[
    3, 4, 8, 13, 18, 20, 23, 31, 34, 35, 37, 40, 45, 46, 50, 51, 52, 54, 62, 64, 66, 69, 72, 74,
    77, 78, 80, 81, 82, 83, 85, 86, 87, 88, 89, 91, 93, 94, 95, 104, 107, 108, 109, 128, 130, 141,
    142, 145, 146, 151, 152, 157, 158, 159, 162, 164, 167, 176, 178, 185, 188, 193, 194, 195, 199,
    204, 207, 208, 209, 212, 213, 216, 217,
];

pub fn public_ipv4(rng: &mut Rng) -> Value {
    let a = rng.pick(PUBLIC_FIRST_OCTETS);
    v(
        format!(
            "{a}.{}.{}.{}",
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
        "ipv4",
    )
}

/// Private, loopback, link-local, CGNAT, documentation, multicast or netmask addresses.
pub fn reserved_ipv4(rng: &mut Rng) -> String {
    let (b, c, d) = (rng.range(0, 255), rng.range(0, 255), rng.range(1, 254));
    match rng.below(10) {
        0 => format!("10.{b}.{c}.{d}"),
        1 => format!("172.{}.{c}.{d}", rng.range(16, 31)),
        2 => format!("192.168.{c}.{d}"),
        3 => "127.0.0.1".to_owned(),
        4 => format!("192.0.2.{d}"),
        5 => format!("198.51.100.{d}"),
        6 => format!("203.0.113.{d}"),
        7 => format!("169.254.{c}.{d}"),
        8 => format!("100.{}.{c}.{d}", rng.range(64, 127)),
        _ => rng
            .pick(&[
                "0.0.0.0",
                "255.255.255.0",
                "224.0.0.251",
                "239.255.255.250",
                "255.255.0.0",
            ])
            .to_string(),
    }
}

pub fn sha1(rng: &mut Rng) -> String {
    rng.string(HEX, 40)
}

pub fn sha256(rng: &mut Rng) -> String {
    rng.string(HEX, 64)
}

pub fn word(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "orders",
        "billing",
        "users",
        "search",
        "inventory",
        "gateway",
        "reports",
        "auth",
        "payments",
        "catalog",
        "notify",
        "ledger",
        "shipping",
        "profile",
        "metrics",
        "export",
    ])
}

pub fn lower_ident(rng: &mut Rng, n: usize) -> String {
    rng.string(LOWER, n)
}

pub fn lower_ident_between(rng: &mut Rng, lo: usize, hi: usize) -> String {
    let n = rng.range(lo, hi);
    rng.string(LOWER, n)
}

pub fn host(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("{}-db.prod.internal", word(rng)),
        1 => format!(
            "{}-{}.{}.{}.rds.amazonaws.com",
            word(rng),
            rng.pick(&["primary", "replica", "prod"]),
            rng.string(LOWER_DIGITS, 12),
            rng.pick(&["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"])
        ),
        2 => format!("cluster0.{}.mongodb.net", rng.string(LOWER_DIGITS, 5)),
        3 => format!("{}.postgres.database.azure.com", word(rng)),
        4 => format!("db{}.{}.svc.cluster.local", rng.range(1, 9), word(rng)),
        _ => format!(
            "{}.{}",
            word(rng),
            rng.pick(&["corp.acme.io", "nordwind.net", "db.brightpath.co.uk"])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{iban_remainder, luhn_valid};

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn personal_data_passes_its_validators_and_negatives_fail_them() {
        let mut rng = Rng::new(3);
        for _ in 0..500 {
            let c = card(&mut rng).text;
            assert!(luhn_valid(&digits(&c)), "{c}");
            assert!(!luhn_valid(&digits(&luhn_invalid_16(&mut rng))));
            let i = iban(&mut rng).text.replace(' ', "");
            assert_eq!(iban_remainder(&i), 1, "{i}");
            let bad = invalid_iban(&mut rng).replace(' ', "");
            assert_ne!(iban_remainder(&bad), 1, "{bad}");
            let s = ssn(&mut rng).text;
            let area: u32 = s[..3].parse().expect("digits");
            assert!(area != 0 && area != 666 && area < 900, "{s}");
        }
    }

    #[test]
    fn tokens_have_their_providers_shape() {
        let mut rng = Rng::new(5);
        for _ in 0..200 {
            let g = secret(&mut rng, "github-token").text;
            if !g.starts_with("github_pat_") {
                assert_eq!(g.len(), 40, "{g}");
                let body = &g[4..34];
                let sum = encode_radix(u64::from(crc32(body.as_bytes())), BASE62, 6);
                assert_eq!(&g[34..], sum, "{g}");
            }
            let n = secret(&mut rng, "npm-token").text;
            assert_eq!(n.len(), 40);
            let a = secret(&mut rng, "anthropic-api-key").text;
            assert!(a.starts_with("sk-ant-") && a.ends_with("AA"), "{a}");
            let az = secret(&mut rng, "azure-storage-key").text;
            assert!(az.len() == 88 && az.ends_with("=="), "{az}");
            let p = secret(&mut rng, "pypi-token").text;
            assert!(p.starts_with("pypi-AgEIcHlwaS5vcmc"), "{p}");
            let j = secret(&mut rng, "jwt").text;
            assert!(
                j.starts_with("eyJ") && j.split('.').nth(1).is_some_and(|p| p.starts_with("eyJ")),
                "{j}"
            );
        }
    }
}
