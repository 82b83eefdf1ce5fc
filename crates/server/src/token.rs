//! Admin tokens and developer keys: generation and the hash under which the store keeps them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Every admin token starts with this, so leaked tokens are easy to recognise (and scan for).
pub const ADMIN_TOKEN_PREFIX: &str = "aigov_adm_";

/// Every developer key (the AI gateway's per-person credential) starts with this.
pub const DEVELOPER_KEY_PREFIX: &str = "aigov_dev_";

/// A new admin token: the prefix plus 32 random bytes as unpadded base64url (43 characters).
pub fn generate_admin_token() -> String {
    generate(ADMIN_TOKEN_PREFIX)
}

/// A new developer key: [`DEVELOPER_KEY_PREFIX`] plus 32 random bytes as unpadded base64url
/// (43 characters). Stored, like admin tokens, only as its [`hash_token`].
pub fn generate_developer_key() -> String {
    generate(DEVELOPER_KEY_PREFIX)
}

fn generate(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of the token, lowercase hex: what the store keeps and looks tokens up by.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        for (generate, prefix) in [
            (generate_admin_token as fn() -> String, ADMIN_TOKEN_PREFIX),
            (generate_developer_key, DEVELOPER_KEY_PREFIX),
        ] {
            let a = generate();
            let b = generate();
            assert_ne!(a, b);
            let body = a.strip_prefix(prefix).expect("prefix");
            assert_eq!(body.len(), 43);
            assert!(
                body.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
