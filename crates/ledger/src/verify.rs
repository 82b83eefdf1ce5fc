//! Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2): pure functions on hashes, what an
//! auditor runs without trusting the server.

use crate::hash::{Hash, empty_root, node_hash};
use crate::tree::{consistency_ranges, inclusion_ranges};

/// A proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("proof has {got} hashes but these tree sizes need {want}")]
    ProofLength { got: usize, want: usize },
    #[error("proof leads to root `{computed}`, expected `{expected}`")]
    RootMismatch { computed: Hash, expected: Hash },
    #[error("consistency proof leads to old root `{computed}`, expected `{expected}`")]
    OldRootMismatch { computed: Hash, expected: Hash },
}

/// Number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    inclusion_ranges(index, size).len()
}

/// Number of hashes in the consistency proof from `old` to `new` leaves.
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    consistency_ranges(old, new).len()
}

/// Root implied by an inclusion proof for `leaf` (a leaf hash) at `index` in a tree of
/// `size` leaves. Compare it with a trusted root, or use [`verify_inclusion`].
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index, size);
    let length_error = VerifyError::ProofLength {
        got: proof.len(),
        want,
    };
    if proof.len() != want {
        return Err(length_error);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(length_error);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(length_error);
    }
    Ok(r)
}

/// Checks that `leaf` (a leaf hash) is entry `index` of the tree of `size` leaves with
/// root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed != *root {
        return Err(VerifyError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root`. Equal sizes need equal roots and an empty proof; size
/// 0 needs the empty-tree root and an empty proof.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::SizeOrder { old, new });
    }
    let want = consistency_proof_len(old, new);
    let length_error = VerifyError::ProofLength {
        got: proof.len(),
        want,
    };
    if proof.len() != want {
        return Err(length_error);
    }
    if old == 0 {
        let empty = empty_root();
        if *old_root != empty {
            return Err(VerifyError::OldRootMismatch {
                computed: empty,
                expected: *old_root,
            });
        }
        return Ok(());
    }
    if old == new {
        if old_root != new_root {
            return Err(VerifyError::RootMismatch {
                computed: *old_root,
                expected: *new_root,
            });
        }
        return Ok(());
    }

    // RFC 9162 §2.1.4.2. When `old` is a power of two its root is the first path element.
    let (first, rest) = if old.is_power_of_two() {
        (*old_root, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if s == 0 {
            return Err(length_error);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(length_error);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch {
            computed: fr,
            expected: *old_root,
        });
    }
    if sr != *new_root {
        return Err(VerifyError::RootMismatch {
            computed: sr,
            expected: *new_root,
        });
    }
    Ok(())
}
