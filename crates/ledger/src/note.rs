//! C2SP `signed-note` with Ed25519 keys: strict parsing, signing, verification, and the
//! verifier / signer key strings of `golang.org/x/mod/sumdb/note`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Largest note accepted, in bytes (the spec asks for at least 16 signatures of up to ~5 kB).
pub const MAX_NOTE_BYTES: usize = 256 * 1024;
/// Most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 in key ids and key strings.
const ALG_ED25519: u8 = 0x01;
/// Signature lines start with an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
const SIGNER_PREFIX: &str = "PRIVATE+KEY+";

/// A key string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed verifier key `{0}`: expected `<name>+<8 hex digits>+<base64 key>`")]
    MalformedVerifier(String),
    #[error("malformed signer key: expected `PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>`")]
    MalformedSigner,
    #[error(
        "invalid key name `{0}`: it must be non-empty, without spaces, control characters or `+`"
    )]
    InvalidName(String),
    #[error("unsupported key type {0:#04x}: only Ed25519 (0x01) is supported")]
    UnsupportedAlgorithm(u8),
    #[error("key id `{stated:08x}` does not match key `{name}` (its id is `{computed:08x}`)")]
    KeyIdMismatch {
        name: String,
        stated: u32,
        computed: u32,
    },
    #[error("invalid Ed25519 public key for `{0}`")]
    InvalidPublicKey(String),
}

/// A note could not be parsed, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note contains control character U+{code:04X} at byte {offset}")]
    ControlCharacter { code: u32, offset: usize },
    #[error("note has no blank line before its signatures")]
    MissingSignatures,
    #[error("note text must be non-empty and end with a newline")]
    TextWithoutNewline,
    #[error("note must end with a newline after its last signature")]
    MissingFinalNewline,
    #[error("malformed signature line `{0}`")]
    MalformedSignatureLine(String),
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("signature by `{name}+{key_id:08x}` does not verify")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("note has no valid signature by a known key")]
    NoVerifiedSignature,
}

/// Key id: the first 4 bytes, big-endian, of `SHA-256(name || 0x0A || type || public key)`.
pub fn key_id(name: &str, type_and_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(type_and_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode spaces, no `+`, no controls.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

fn ed25519_key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut buf = [0u8; 33];
    buf[0] = ALG_ED25519;
    buf[1..].copy_from_slice(public.as_bytes());
    key_id(name, &buf)
}

fn parse_key_id(hex: &str) -> Option<u32> {
    let ok = hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| u32::from_str_radix(hex, 16).ok()).flatten()
}

/// Best-effort wipe of secret bytes before they are dropped.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// An Ed25519 note verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parses a verifier key string, checking the key id against the name and key.
    pub fn parse(s: &str) -> Result<VerifierKey, KeyError> {
        let malformed = || KeyError::MalformedVerifier(s.to_owned());
        let (name, rest) = s.split_once('+').ok_or_else(malformed)?;
        let (id, key) = rest.split_once('+').ok_or_else(malformed)?;
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let stated = parse_key_id(id).ok_or_else(malformed)?;
        let raw = STANDARD.decode(key).map_err(|_| malformed())?;
        let (&alg, public) = raw.split_first().ok_or_else(malformed)?;
        if alg != ALG_ED25519 {
            return Err(KeyError::UnsupportedAlgorithm(alg));
        }
        let public = <[u8; 32]>::try_from(public)
            .map_err(|_| KeyError::InvalidPublicKey(name.to_owned()))?;
        let v = VerifierKey::from_public_key(name, public)?;
        if v.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: v.key_id,
            });
        }
        Ok(v)
    }

    /// The verifier for a raw 32-byte Ed25519 public key. Weak (small-order) keys are refused.
    pub fn from_public_key(name: &str, public: [u8; 32]) -> Result<VerifierKey, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(&public)
            .ok()
            .filter(|k| !k.is_weak())
            .ok_or_else(|| KeyError::InvalidPublicKey(name.to_owned()))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, &key),
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's Ed25519 signature of `msg` (strict RFC 8032
    /// verification: canonical encodings, no small-order points).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }

    fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        VerifierKey::parse(s)
    }
}

/// An Ed25519 note signer key: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`.
/// The secret is wiped on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl SignerKey {
    /// A signer from a 32-byte Ed25519 seed (key generation: the caller supplies random
    /// bytes, keeping this crate free of IO).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SignerKey, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let mut seed = seed;
        let key = SigningKey::from_bytes(&seed);
        wipe(&mut seed);
        Ok(SignerKey {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// Parses a signer key string, checking the key id against the name and derived
    /// public key. Errors never echo the secret.
    pub fn parse(s: &str) -> Result<SignerKey, KeyError> {
        let rest = s
            .strip_prefix(SIGNER_PREFIX)
            .ok_or(KeyError::MalformedSigner)?;
        let (name, rest) = rest.split_once('+').ok_or(KeyError::MalformedSigner)?;
        let (id, key) = rest.split_once('+').ok_or(KeyError::MalformedSigner)?;
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let stated = parse_key_id(id).ok_or(KeyError::MalformedSigner)?;
        let mut raw = STANDARD
            .decode(key)
            .map_err(|_| KeyError::MalformedSigner)?;
        let parsed = match raw.split_first() {
            None => Err(KeyError::MalformedSigner),
            Some((&alg, _)) if alg != ALG_ED25519 => Err(KeyError::UnsupportedAlgorithm(alg)),
            Some((_, seed)) => <[u8; 32]>::try_from(seed)
                .map_err(|_| KeyError::MalformedSigner)
                .and_then(|seed| SignerKey::from_seed(name, seed)),
        };
        wipe(&mut raw);
        let signer = parsed?;
        if signer.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key string. It is the secret: do not log it.
    pub fn to_secret_string(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        let s = format!(
            "{SIGNER_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        );
        wipe(&mut raw);
        s
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `msg` (a note text).
    pub fn sign(&self, msg: &[u8]) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(msg).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignerKey({}+{:08x}, secret redacted)",
            self.name, self.key_id
        )
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (the first 4 bytes of the encoded signature).
    pub key_id: u32,
    /// Signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, `— <name> <base64(key id || signature)>` and a newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let malformed = || NoteError::MalformedSignatureLine(line.to_owned());
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(malformed)?;
        if !is_valid_key_name(name) || b64.is_empty() {
            return Err(malformed());
        }
        let raw = STANDARD.decode(b64).map_err(|_| malformed())?;
        if raw.len() < 5 {
            return Err(malformed());
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        })
    }
}

/// A signed note: text (ending in a newline) and one or more signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// A note with at least one signature verified by a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    pub note: Note,
    /// The known keys whose signatures verified.
    pub verified_by: Vec<VerifierKey>,
}

fn check_chars(s: &str) -> Result<(), NoteError> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((offset, c)) => Err(NoteError::ControlCharacter {
            code: u32::from(c),
            offset,
        }),
        None => Ok(()),
    }
}

impl Note {
    /// An unsigned note; `text` must end with a newline and hold no control characters
    /// other than newline.
    pub fn new(text: impl Into<String>) -> Result<Note, NoteError> {
        let text = text.into();
        if !text.ends_with('\n') {
            return Err(NoteError::TextWithoutNewline);
        }
        check_chars(&text)?;
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: text.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note without verifying it. Strict: valid UTF-8, no control
    /// characters but newline, a blank line before the signatures, well-formed signature
    /// lines with valid names and canonical base64, at most [`MAX_SIGNATURES`] signatures
    /// and [`MAX_NOTE_BYTES`] bytes.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: msg.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::NotUtf8)?;
        check_chars(msg)?;
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
        let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::MissingSignatures);
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline);
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses and verifies a signed note: signatures by unknown keys are ignored, a
    /// signature by a known key (same name and key id) that fails rejects the whole note,
    /// and at least one known key must have signed.
    pub fn open(msg: &[u8], known: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
        let note = Note::parse(msg)?;
        let verified_by = note.verify(known)?;
        Ok(VerifiedNote { note, verified_by })
    }

    /// Verifies the signatures against `known` (see [`Note::open`]); returns the known keys
    /// that signed.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<VerifierKey>, NoteError> {
        let mut verified: Vec<VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = known.iter().find(|k| k.matches(sig)) else {
                continue;
            };
            if !key.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified.contains(key) {
                verified.push(key.clone());
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }

    /// Adds `signer`'s signature, replacing an earlier one by the same key.
    pub fn sign(&mut self, signer: &SignerKey) -> Result<(), NoteError> {
        let sig = signer.sign(self.text.as_bytes());
        let mut signatures: Vec<NoteSignature> = self
            .signatures
            .iter()
            .filter(|s| !(s.name == sig.name && s.key_id == sig.key_id))
            .cloned()
            .collect();
        signatures.push(sig);
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let size =
            self.text.len() + 1 + signatures.iter().map(|s| s.to_line().len()).sum::<usize>();
        if size > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size,
                max: MAX_NOTE_BYTES,
            });
        }
        self.signatures = signatures;
        Ok(())
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, verified or not, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }
}

/// The encoded note: text, blank line, signature lines.
impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
        }
        Ok(())
    }
}
