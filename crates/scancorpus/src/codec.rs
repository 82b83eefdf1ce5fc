//! Checksums and encodings the planted values need: CRC-32, base62/base36, base64, Luhn, IBAN
//! mod-97. Self-written so the corpus needs no extra dependencies.

/// CRC-32 (IEEE 802.3, as zlib and Python's `binascii.crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `n` in the given digit alphabet, left-padded with its zero digit to `width`.
pub fn encode_radix(mut n: u64, alphabet: &[u8], width: usize) -> String {
    let base = alphabet.len() as u64;
    let mut out = Vec::new();
    while n > 0 {
        out.push(alphabet[(n % base) as usize]);
        n /= base;
    }
    while out.len() < width {
        out.push(alphabet[0]);
    }
    out.reverse();
    String::from_utf8(out).expect("alphabet is ASCII")
}

/// Base64 (RFC 4648), standard or URL-safe alphabet, with or without `=` padding.
pub fn base64(data: &[u8], url: bool, pad: bool) -> String {
    let alphabet = if url {
        crate::prng::BASE64URL
    } else {
        crate::prng::BASE64
    };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// The digit that makes `digits` followed by it pass the Luhn check.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_valid(digits: &[u8]) -> bool {
    match digits.split_last() {
        Some((&last, rest)) => luhn_check_digit(rest) == last,
        None => false,
    }
}

/// ISO 13616 mod-97 remainder of an IBAN (country, check digits, BBAN; no spaces).
pub fn iban_remainder(iban: &str) -> u32 {
    let b = iban.as_bytes();
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => panic!("IBAN character {c:?}"),
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

/// The two check digits for `country` and `bban`.
pub fn iban_check_digits(country: &str, bban: &str) -> String {
    let rem = iban_remainder(&format!("{country}00{bban}"));
    format!("{:02}", 98 - rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"foobar", false, true), "Zm9vYmFy");
        assert_eq!(base64(b"fooba", false, true), "Zm9vYmE=");
        assert_eq!(base64(b"foob", false, true), "Zm9vYg==");
        assert_eq!(base64(b"foob", true, false), "Zm9vYg");
        assert_eq!(base64(&[0xfb, 0xff], true, false), "-_8");
        assert_eq!(
            base64(
                &[2, 1, 8, b'p', b'y', b'p', b'i', b'.', b'o', b'r', b'g', 2],
                true,
                false
            ),
            "AgEIcHlwaS5vcmcC"
        );
    }

    #[test]
    fn luhn_and_iban() {
        assert!(luhn_valid(&[
            4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
        ]));
        assert!(!luhn_valid(&[
            4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2
        ]));
        assert_eq!(iban_remainder("DE89370400440532013000"), 1);
        assert_eq!(iban_check_digits("DE", "370400440532013000"), "89");
        assert_eq!(iban_check_digits("GB", "NWBK60161331926819"), "29");
    }

    #[test]
    fn radix() {
        assert_eq!(encode_radix(0, crate::prng::BASE62, 6), "000000");
        assert_eq!(encode_radix(61, crate::prng::BASE62, 2), "0z");
        assert_eq!(encode_radix(62, crate::prng::BASE62, 1), "10");
    }
}
