//! Authenticity of webhook deliveries: GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the body)
//! and GitLab's `X-Gitlab-Token` (a shared secret sent as is). Both compared in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header GitHub signs deliveries in.
pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The header GitLab sends the webhook's secret token in.
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Why a delivery is not accepted as authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No secret is configured, so nothing can be verified (fail closed).
    #[error("no webhook secret is configured; refusing to accept unverifiable deliveries")]
    NoSecret,
    /// The header is absent.
    #[error("missing `{header}` header")]
    Missing {
        /// Header name.
        header: &'static str,
    },
    /// The header does not start with `sha256=` (e.g. a legacy `sha1=` signature).
    #[error("`{header}` must start with `sha256=`, got `{value}`")]
    NotSha256 {
        /// Header name.
        header: &'static str,
        /// The header value (shortened); a signature is not a secret.
        value: String,
    },
    /// After `sha256=` there are not exactly 64 hexadecimal digits.
    #[error("`{header}` must be `sha256=` followed by 64 hexadecimal digits, got `{value}`")]
    Malformed {
        /// Header name.
        header: &'static str,
        /// The header value (shortened).
        value: String,
    },
    /// The signature is well formed but not the body's under the configured secret.
    #[error("`{header}` does not match the body under the configured secret")]
    Mismatch {
        /// Header name.
        header: &'static str,
    },
    /// The token is not the configured one.
    #[error("`{header}` is not the configured token")]
    WrongToken {
        /// Header name.
        header: &'static str,
    },
}

/// HMAC-SHA256 (RFC 2104) of `body` under `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `X-Hub-Signature-256` value GitHub sends for `body` signed with `secret`: `sha256=<hex>`.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// Verifies GitHub's `X-Hub-Signature-256: sha256=<hex>` header against the raw request body.
///
/// `header` is the header's value as received (`None` if absent). The comparison of the MACs is
/// constant-time. An empty `secret` is refused ([`SignatureError::NoSecret`]).
pub fn verify_github_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    const H: &str = GITHUB_SIGNATURE_HEADER;
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let value = header.ok_or(SignatureError::Missing { header: H })?;
    let hex_part = value
        .strip_prefix("sha256=")
        .ok_or_else(|| SignatureError::NotSha256 {
            header: H,
            value: shorten(value),
        })?;
    let mut given = [0u8; 32];
    if hex_part.len() != 64 || hex::decode_to_slice(hex_part, &mut given).is_err() {
        return Err(SignatureError::Malformed {
            header: H,
            value: shorten(value),
        });
    }
    let expected = hmac_sha256(secret, body);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { header: H })
    }
}

/// Verifies GitLab's `X-Gitlab-Token` header, which carries the webhook's secret token verbatim.
///
/// Compares SHA-256 digests of both tokens in constant time, so neither the position of the first
/// differing byte nor the configured token's length shows in the timing. The token is never
/// echoed in an error. An empty `secret` is refused ([`SignatureError::NoSecret`]).
pub fn verify_gitlab_token(secret: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    const H: &str = GITLAB_TOKEN_HEADER;
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let value = header.ok_or(SignatureError::Missing { header: H })?;
    let expected = Sha256::digest(secret);
    let given = Sha256::digest(value.as_bytes());
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err(SignatureError::WrongToken { header: H })
    }
}

/// A header value for an error message: at most 80 characters.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}
