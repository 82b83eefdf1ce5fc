//! C2SP `tlog-proof@v1`: the self-contained, offline-verifiable text proof that an entry is
//! in the log (entry index, RFC 9162 inclusion proof, the signed checkpoint it leads to).
//! Building, strict parsing and verification; no IO.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::{Hash, leaf_hash};
use crate::note::{MAX_NOTE_BYTES, VerifierKey};
use crate::verify::{VerifyError, inclusion_proof_len, root_from_inclusion_proof};

/// First line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof text accepted, in bytes: a checkpoint note plus 64 hash lines and extra data.
pub const MAX_PROOF_BYTES: usize = MAX_NOTE_BYTES + 64 * 1024;
/// Most inclusion proof lines accepted (a tree of `2^64` leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;

/// A parsed `tlog-proof@v1`: the entry index, its inclusion proof and the checkpoint note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (the optional `extra` line).
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry.
    pub index: u64,
    /// Inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// What a verified proof establishes: the entry is leaf `index` of the tree of `size` leaves
/// with root `root`, which the log's key signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEntry {
    /// Index of the entry.
    pub index: u64,
    /// The checkpoint's tree size.
    pub size: u64,
    /// The checkpoint's root hash.
    pub root: Hash,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
}

/// A proof could not be parsed or does not verify. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFileError {
    #[error("proof is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("proof is not valid UTF-8")]
    NotUtf8,
    #[error("line 1 must be `{TLOG_PROOF_HEADER}`, found `{0}`")]
    BadHeader(String),
    #[error("line {line}: invalid extra data `{found}`: expected `extra <base64>`")]
    BadExtra { line: usize, found: String },
    #[error("line {line}: expected `index <n>` (decimal, no leading zeroes), found `{found}`")]
    BadIndex { line: usize, found: String },
    #[error("line {line}: `{found}` is not the base64 of a 32-byte hash")]
    BadHash { line: usize, found: String },
    #[error("proof has more than {max} inclusion proof lines")]
    TooManyHashes { max: usize },
    #[error("proof has no blank line before its checkpoint")]
    MissingCheckpoint,
    #[error("proof's checkpoint does not verify: {0}")]
    Checkpoint(#[source] CheckpointError),
    #[error("entry index {index} is not below the checkpoint's tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("inclusion proof has {got} hashes but entry {index} in a tree of {size} needs {want}")]
    ProofLength {
        index: u64,
        size: u64,
        got: usize,
        want: usize,
    },
    #[error(
        "entry {index} with this proof leads to root `{computed}`, but the checkpoint at size {size} has root `{expected}` (wrong entry bytes, or a modified proof)"
    )]
    RootMismatch {
        index: u64,
        size: u64,
        computed: Hash,
        expected: Hash,
    },
}

fn is_canonical_decimal(s: &str) -> bool {
    s == "0"
        || (s.starts_with(|c: char| matches!(c, '1'..='9'))
            && s.bytes().all(|b| b.is_ascii_digit()))
}

impl TlogProof {
    /// The proof text: header, optional `extra` line, `index` line, one base64 hash per
    /// line, a blank line, then the checkpoint note.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.checkpoint.len() + 64 * self.proof.len() + 64);
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a proof strictly (canonical index and base64, the header exactly), without
    /// verifying its checkpoint or inclusion proof.
    pub fn parse(text: &str) -> Result<TlogProof, ProofFileError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(ProofFileError::TooLarge {
                size: text.len(),
                max: MAX_PROOF_BYTES,
            });
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofFileError::MissingCheckpoint)?;
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        let (_, header) = lines.next().unwrap_or((1, ""));
        if header != TLOG_PROOF_HEADER {
            return Err(ProofFileError::BadHeader(header.to_owned()));
        }
        let mut next = lines.next();
        let mut extra = None;
        if let Some((line, l)) = next
            && let Some(b64) = l.strip_prefix("extra ")
        {
            let data = STANDARD
                .decode(b64)
                .ok()
                .filter(|d| STANDARD.encode(d) == b64)
                .ok_or_else(|| ProofFileError::BadExtra {
                    line,
                    found: l.to_owned(),
                })?;
            extra = Some(data);
            next = lines.next();
        }
        let (line, l) = next.unwrap_or((2, ""));
        let index = l
            .strip_prefix("index ")
            .filter(|n| is_canonical_decimal(n))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| ProofFileError::BadIndex {
                line,
                found: l.to_owned(),
            })?;
        let mut proof = Vec::new();
        for (line, l) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(ProofFileError::TooManyHashes {
                    max: MAX_PROOF_HASHES,
                });
            }
            let h = Hash::from_base64(l).map_err(|_| ProofFileError::BadHash {
                line,
                found: l.to_owned(),
            })?;
            proof.push(h);
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the proof for `entry` (the entry's bytes, as hashed into the log): the
    /// checkpoint must be signed by `key` with origin `origin`, and the inclusion proof must
    /// lead from the entry's leaf hash to the checkpoint's root.
    pub fn verify(
        &self,
        entry: &[u8],
        origin: &str,
        key: &VerifierKey,
    ) -> Result<ProvenEntry, ProofFileError> {
        let checkpoint = Checkpoint::open(self.checkpoint.as_bytes(), origin, key)
            .map_err(ProofFileError::Checkpoint)?;
        let (index, size) = (self.index, checkpoint.size);
        if index >= size {
            return Err(ProofFileError::IndexBeyondSize { index, size });
        }
        let computed = root_from_inclusion_proof(&leaf_hash(entry), index, size, &self.proof)
            .map_err(|e| match e {
                VerifyError::IndexOutOfRange { index, size } => {
                    ProofFileError::IndexBeyondSize { index, size }
                }
                _ => ProofFileError::ProofLength {
                    index,
                    size,
                    got: self.proof.len(),
                    want: inclusion_proof_len(index, size),
                },
            })?;
        if computed != checkpoint.root {
            return Err(ProofFileError::RootMismatch {
                index,
                size,
                computed,
                expected: checkpoint.root,
            });
        }
        Ok(ProvenEntry {
            index,
            size,
            root: checkpoint.root,
            checkpoint,
        })
    }
}

/// Parses and verifies a `tlog-proof@v1` text for `entry` (see [`TlogProof::verify`]).
pub fn verify_tlog_proof(
    text: &str,
    entry: &[u8],
    origin: &str,
    key: &VerifierKey,
) -> Result<ProvenEntry, ProofFileError> {
    TlogProof::parse(text)?.verify(entry, origin, key)
}
