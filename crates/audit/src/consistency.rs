//! `--from-checkpoint`: proves that a checkpoint an auditor saved earlier is a prefix of the
//! log now, with an RFC 9162 consistency proof generated from the log's hashes and checked
//! by [`ledger::verify_consistency`]. A failure means the log was rewritten or shrunk since
//! (or someone with the log's key signed a fork).

use std::fmt;

use ledger::{Checkpoint, Hash, ProofPlan, TreeHead, VerifierKey, VerifyError, verify_consistency};
use store::{LedgerStore, StoreError};

use crate::AuditError;

/// How a saved checkpoint relates to the log now. [`fmt::Display`] completes a sentence
/// that starts with the checkpoint's name, e.g. "checkpoint FILE ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    /// The saved tree is a prefix of the current one.
    Consistent {
        old: TreeHead,
        new: TreeHead,
        /// What the current tree is, e.g. `checkpoint 7` or `the export's anchor`.
        against: String,
    },
    /// The saved tree is not a prefix of the current one.
    Inconsistent {
        old: TreeHead,
        new: TreeHead,
        against: String,
        problem: Inconsistency,
    },
    /// The saved checkpoint itself does not verify (signature, origin or text).
    Invalid { message: String },
    /// The log's hashes needed for the proof cannot be read (missing or damaged).
    Unverifiable { message: String },
}

/// Why a saved checkpoint is not consistent with the log now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconsistency {
    /// The log's root at the saved size differs from the saved root: the entries before it
    /// were rewritten (or the saved checkpoint was signed for another tree: a fork).
    RootDiffers { computed: Hash },
    /// The saved checkpoint is larger than the current tree: entries were removed.
    Shrunk,
    /// The proof built from the log's hashes does not lead to the current root.
    Proof(VerifyError),
}

impl Consistency {
    /// Whether the saved checkpoint was proven consistent.
    pub fn is_consistent(&self) -> bool {
        matches!(self, Consistency::Consistent { .. })
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Consistency::Consistent { old, new, against } => write!(
                f,
                "(size {}) is consistent with size {} ({against}, root `{}`)",
                old.size, new.size, new.root
            ),
            Consistency::Inconsistent {
                old,
                new,
                against,
                problem,
            } => {
                write!(
                    f,
                    "(size {}) is NOT consistent with size {} ({against}): ",
                    old.size, new.size
                )?;
                match problem {
                    Inconsistency::RootDiffers { computed } => write!(
                        f,
                        "the log's root at size {} is `{computed}`, the checkpoint says `{}`: the log was rewritten since (or the checkpoint was signed for a fork)",
                        old.size, old.root
                    ),
                    Inconsistency::Shrunk => write!(
                        f,
                        "the log is smaller now than when the checkpoint was saved: entries were removed"
                    ),
                    Inconsistency::Proof(e) => {
                        write!(f, "the consistency proof does not verify: {e}")
                    }
                }
            }
            Consistency::Invalid { message } => write!(f, "does not verify: {message}"),
            Consistency::Unverifiable { message } => {
                write!(f, "could not be checked: {message}")
            }
        }
    }
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Opens the saved checkpoint, or says why it does not verify.
pub(crate) fn open_saved(
    saved: &[u8],
    origin: &str,
    key: &VerifierKey,
) -> Result<TreeHead, Box<Consistency>> {
    Checkpoint::open(saved, origin, key)
        .map(|c| c.head())
        .map_err(|e| {
            Box::new(Consistency::Invalid {
                message: e.to_string(),
            })
        })
}

/// The verdict, given the consistency proof from `old.size` to `new.size` and the log's
/// root at `old.size`, both computed from the log's hashes.
pub(crate) fn judge(
    old: TreeHead,
    new: TreeHead,
    against: String,
    proof: &[Hash],
    root_at_old: Hash,
) -> Consistency {
    match verify_consistency(old.size, new.size, &old.root, &new.root, proof) {
        Ok(()) => Consistency::Consistent { old, new, against },
        Err(e) => {
            let problem = if root_at_old != old.root {
                Inconsistency::RootDiffers {
                    computed: root_at_old,
                }
            } else {
                Inconsistency::Proof(e)
            };
            Consistency::Inconsistent {
                old,
                new,
                against,
                problem,
            }
        }
    }
}

/// The plans to read for a consistency check: the proof from `old` to `new`, and the root
/// at `old`; or the verdict when `old` is larger than `new`.
pub(crate) fn plans(
    old: TreeHead,
    new: TreeHead,
    against: &str,
) -> Result<(ProofPlan, ProofPlan), Box<Consistency>> {
    match ProofPlan::consistency(old.size, new.size) {
        Ok(proof) => Ok((proof, ProofPlan::tree_hash(old.size))),
        Err(_) => Err(Box::new(Consistency::Inconsistent {
            old,
            new,
            against: against.to_owned(),
            problem: Inconsistency::Shrunk,
        })),
    }
}

/// Reads and finishes `plan`; `Ok(Err(message))` when a hash is missing or damaged.
async fn read_plan<S: LedgerStore + Sync>(
    store: &S,
    plan: &ProofPlan,
) -> Result<Result<Vec<Hash>, String>, StoreError> {
    if plan.nodes().is_empty() {
        return Ok(plan.finish(&[]).map_err(|e| e.to_string()));
    }
    match store.ledger_read_hashes(plan.nodes().to_vec()).await {
        Ok(hashes) => Ok(plan.finish(&hashes).map_err(|e| e.to_string())),
        Err(StoreError::InvalidData(message)) => Ok(Err(message)),
        Err(e) => Err(e),
    }
}

/// Checks the saved checkpoint `saved` (signed note bytes) against the store: against the
/// newest stored checkpoint that verifies with `origin` and `key`, or the stored head when
/// there is none (or the saved checkpoint is larger than it).
pub async fn check_consistency<S: LedgerStore + Sync>(
    store: &S,
    saved: &[u8],
    origin: &str,
    key: &VerifierKey,
) -> Result<Consistency, AuditError> {
    let old = match open_saved(saved, origin, key) {
        Ok(old) => old,
        Err(invalid) => return Ok(*invalid),
    };
    let head = store.ledger_head().await?;
    let newest = store
        .ledger_checkpoints()
        .await?
        .into_iter()
        .rev()
        .find_map(|r| {
            Checkpoint::open(r.note.as_bytes(), origin, key)
                .ok()
                .filter(|c| c.size <= head.size)
                .map(|c| (r.id, c.head()))
        });
    let (new, against) = match newest {
        Some((id, cp)) if cp.size >= old.size || head.size < old.size => {
            (cp, format!("newest checkpoint, id {id}"))
        }
        _ => (head, "the stored head".to_owned()),
    };
    let (proof_plan, root_plan) = match plans(old, new, &against) {
        Ok(p) => p,
        Err(verdict) => return Ok(*verdict),
    };
    let proof = match read_plan(store, &proof_plan).await? {
        Ok(p) => p,
        Err(message) => return Ok(Consistency::Unverifiable { message }),
    };
    let root_at_old = match read_plan(store, &root_plan).await? {
        Ok(r) => r.first().copied().unwrap_or_else(ledger::empty_root),
        Err(message) => return Ok(Consistency::Unverifiable { message }),
    };
    Ok(judge(old, new, against, &proof, root_at_old))
}
