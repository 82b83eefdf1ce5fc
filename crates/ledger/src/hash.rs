//! SHA-256 hashes of the RFC 6962 / RFC 9162 Merkle tree: the hash type, leaf and node hashing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash, a tree root or a payload digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// A hash could not be decoded from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("hash `{0}` is not 64 lowercase hex digits")]
    Hex(String),
    #[error("hash `{0}` is not canonical base64 of 32 bytes")]
    Base64(String),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The value of each lowercase hex digit; `0xff` for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        t[HEX[i] as usize] = i as u8;
        i += 1;
    }
    t
};

impl Hash {
    /// Length of a hash in bytes.
    pub const LEN: usize = 32;

    /// Copies a 32-byte slice into a hash; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        self.push_hex(&mut s);
        s
    }

    /// Appends the lowercase hex to `out`.
    pub(crate) fn push_hex(&self, out: &mut String) {
        for b in self.0 {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<Hash, HashError> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(HashError::Hex(s.to_owned()));
        }
        let mut out = [0u8; 32];
        // Without a branch per digit: invalid digits map to 0xff and are caught at the end.
        let mut invalid = 0u8;
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            invalid |= hi | lo;
            *o = (hi << 4) | (lo & 15);
        }
        if invalid > 15 {
            return Err(HashError::Hex(s.to_owned()));
        }
        Ok(Hash(out))
    }

    /// Standard padded base64 (RFC 4648 §4), as used in checkpoints.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses canonical standard padded base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Hash, HashError> {
        STANDARD
            .decode(s)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| HashError::Base64(s.to_owned()))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; 32]> for Hash {
    fn from(b: [u8; 32]) -> Hash {
        Hash(b)
    }
}

/// Plain SHA-256 of `data` (for payload digests; not a tree hash).
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(&[])
}
