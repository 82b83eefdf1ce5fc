//! aigov's verifiable audit ledger, the pure core: an append-only RFC 6962 / RFC 9162 Merkle
//! tree of canonical entries, inclusion and consistency proofs, and C2SP signed checkpoints,
//! so anyone can check the log without trusting the server or its database. No IO.
//!
//! - [`hash`]: leaf and node hashing.
//! - [`tree`]: stored-hash coordinates ([`NodeId`]), the [`HashReader`] a store implements,
//!   proof generation, C2SP tiles.
//! - [`verify`]: proof verification.
//! - [`compact`]: the right edge ([`CompactRange`]) for group-commit appends, and the
//!   streaming whole-log verifier ([`LogVerifier`]).
//! - [`mem`]: [`MemTree`], an in-memory log.
//! - [`note`], [`checkpoint`]: signed notes, Ed25519 keys, checkpoints.
//! - [`entry`]: the canonical ledger [`Entry`].
//! - [`proof_file`]: C2SP `tlog-proof@v1` text proofs of inclusion.

pub mod checkpoint;
pub mod compact;
pub mod entry;
pub mod hash;
pub mod mem;
pub mod note;
pub mod proof_file;
pub mod tree;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use compact::{
    Appended, CompactRange, CompactRangeError, HeadProblem, LogReport, LogVerifier, LogVerifyError,
    StoredHash, TreeHead,
};
pub use entry::{
    Decision, ENTRY_VERSION, Entry, EntryError, EntryKind, Origin, Outcome, Timestamp,
};
pub use hash::{Hash, HashError, empty_root, leaf_hash, node_hash, sha256};
pub use mem::{MemTree, MissingHash};
pub use note::{KeyError, Note, NoteError, NoteSignature, SignerKey, VerifiedNote, VerifierKey};
pub use proof_file::{ProofFileError, ProvenEntry, TlogProof, verify_tlog_proof};
pub use tree::{
    HashReader, NodeId, ProofError, ProofPlan, TILE_HEIGHT, TILE_WIDTH, TileId, consistency_proof,
    inclusion_proof, stored_hash_count, tree_hash,
};
pub use verify::{
    VerifyError, consistency_proof_len, inclusion_proof_len, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
