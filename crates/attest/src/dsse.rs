//! DSSE v1 envelopes (<https://github.com/secure-systems-lab/dsse>): the signature covers the
//! pre-authentication encoding `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, so the
//! payload type is authenticated too. Signed with the log's Ed25519 [`ledger::SignerKey`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ledger::{SignerKey, VerifierKey};
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("envelope payload type is `{0}`, expected `{PAYLOAD_TYPE}`")]
    PayloadType(String),
    #[error("envelope field `{0}` is not valid base64")]
    Base64(&'static str),
    #[error("envelope has no signatures")]
    NoSignatures,
    #[error("no signature on the envelope verifies with key `{0}`")]
    BadSignature(String),
    #[error("invalid envelope: {0}")]
    Json(String),
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Unauthenticated hint: the verifier key's `<name>+<hex key id>` (see [`keyid`]).
    #[serde(default)]
    pub keyid: String,
    /// Base64 Ed25519 signature of the PAE.
    pub sig: String,
}

/// A DSSE envelope as JSON (`payloadType`, base64 `payload`, `signatures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 (standard) of the serialized body.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

/// The pre-authentication encoding DSSE signs.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The `keyid` aigov writes: `<key name>+<hex key id>`.
pub fn keyid(key: &VerifierKey) -> String {
    format!("{}+{:08x}", key.name(), key.key_id())
}

/// Either base64 alphabet, as DSSE requires verifiers to accept.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok().or_else(|| URL_SAFE.decode(s).ok())
}

impl Envelope {
    /// Signs `body` as `payload_type` with `signer`.
    pub fn sign(payload_type: &str, body: &[u8], signer: &SignerKey) -> Envelope {
        let signature = signer.sign(&pae(payload_type, body));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(body),
            signatures: vec![Signature {
                keyid: keyid(&signer.verifier()),
                sig: STANDARD.encode(signature.signature),
            }],
        }
    }

    /// Parses an envelope strictly (unknown fields refused; errors name the field).
    pub fn from_json(value: &serde_json::Value) -> Result<Envelope, DsseError> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| DsseError::Json(format!("at `{}`: {}", e.path(), e.inner())))
    }

    /// The envelope as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks the payload type and that a signature by `key` covers the PAE of the payload;
    /// returns the payload bytes. The `keyid` is not relied on.
    pub fn verify(&self, key: &VerifierKey) -> Result<Vec<u8>, DsseError> {
        if self.payload_type != PAYLOAD_TYPE {
            return Err(DsseError::PayloadType(self.payload_type.clone()));
        }
        let body = decode_base64(&self.payload).ok_or(DsseError::Base64("payload"))?;
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let message = pae(&self.payload_type, &body);
        let verified = self
            .signatures
            .iter()
            .any(|s| decode_base64(&s.sig).is_some_and(|sig| key.verify(&message, &sig)));
        if !verified {
            return Err(DsseError::BadSignature(keyid(key)));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of DSSE's protocol.md ("Test Vectors").
    #[test]
    fn pae_matches_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        // An empty body ends in `0 ` (LEN, then SP, then nothing).
        assert_eq!(
            pae(PAYLOAD_TYPE, b""),
            b"DSSEv1 28 application/vnd.in-toto+json 0 "
        );
    }

    /// DSSE's `testvectors/vectors.json`, vector `single-signature`: Ed25519 key `A` (the
    /// RFC 8032 test 1 seed) over an in-toto payload. Ed25519 is deterministic, so signing
    /// gives exactly the vector's signature, and the vector's envelope verifies.
    #[test]
    fn ed25519_vector_from_the_dsse_test_vectors() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let signer = SignerKey::from_seed("vector-a", seed).unwrap();
        let body = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let expected_pae = hex::decode("445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d").unwrap();
        assert_eq!(pae(PAYLOAD_TYPE, body), expected_pae);
        let expected_sig = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==";
        let envelope = Envelope::sign(PAYLOAD_TYPE, body, &signer);
        assert_eq!(envelope.signatures[0].sig, expected_sig);
        assert_eq!(
            envelope.payload,
            "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
        );
        let from_vector = Envelope {
            payload_type: PAYLOAD_TYPE.to_owned(),
            payload: envelope.payload.clone(),
            signatures: vec![Signature {
                keyid: "A".to_owned(),
                sig: expected_sig.to_owned(),
            }],
        };
        assert_eq!(from_vector.verify(&signer.verifier()).unwrap(), body);
    }

    fn signer(seed: u8) -> SignerKey {
        SignerKey::from_seed("aigov.test", [seed; 32]).unwrap()
    }

    #[test]
    fn sign_then_verify_and_tampering() {
        let key = signer(1);
        let envelope = Envelope::sign(PAYLOAD_TYPE, b"{\"a\":1}", &key);
        assert_eq!(
            envelope.signatures[0].keyid,
            format!("aigov.test+{:08x}", key.key_id())
        );
        assert_eq!(envelope.verify(&key.verifier()).unwrap(), b"{\"a\":1}");

        let mut changed = envelope.clone();
        changed.payload = STANDARD.encode(b"{\"a\":2}");
        assert_eq!(
            changed.verify(&key.verifier()),
            Err(DsseError::BadSignature(keyid(&key.verifier())))
        );

        let other = signer(2).verifier();
        assert_eq!(
            envelope.verify(&other),
            Err(DsseError::BadSignature(keyid(&other)))
        );

        let mut retyped = envelope.clone();
        retyped.payload_type = "application/json".to_owned();
        assert_eq!(
            retyped.verify(&key.verifier()),
            Err(DsseError::PayloadType("application/json".to_owned()))
        );

        let mut unsigned = envelope.clone();
        unsigned.signatures.clear();
        assert_eq!(
            unsigned.verify(&key.verifier()),
            Err(DsseError::NoSignatures)
        );

        let mut garbage = envelope;
        garbage.payload = "not base64!".to_owned();
        assert_eq!(
            garbage.verify(&key.verifier()),
            Err(DsseError::Base64("payload"))
        );
    }

    #[test]
    fn url_safe_base64_is_accepted() {
        let key = signer(3);
        let body = [0xfb, 0xff, 0xbf, 0x3e, 0x3f];
        let mut envelope = Envelope::sign(PAYLOAD_TYPE, &body, &key);
        envelope.payload = URL_SAFE.encode(body);
        envelope.signatures[0].sig =
            URL_SAFE.encode(STANDARD.decode(&envelope.signatures[0].sig).unwrap());
        assert_eq!(envelope.verify(&key.verifier()).unwrap(), body);
    }

    #[test]
    fn parsing_is_strict_and_names_the_field() {
        let check = |json: serde_json::Value, expect: &str| {
            let got = Envelope::from_json(&json).unwrap_err().to_string();
            assert!(got.contains(expect), "{got}");
        };
        check(
            serde_json::json!({"payloadType": PAYLOAD_TYPE, "payload": "", "signatures": [], "extra": 1}),
            "unknown field `extra`",
        );
        check(
            serde_json::json!({"payloadType": PAYLOAD_TYPE, "signatures": []}),
            "missing field `payload`",
        );
        check(
            serde_json::json!({"payloadType": PAYLOAD_TYPE, "payload": "", "signatures": [{"keyid": "k"}]}),
            "at `signatures[0]`",
        );
    }
}
