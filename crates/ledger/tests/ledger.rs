//! The ledger's one integration test binary: Merkle tree vectors and exhaustive proof checks,
//! signed notes and checkpoints, canonical entries, `tlog-proof` files.

#[path = "ledger/checkpoint.rs"]
mod checkpoint;
#[path = "ledger/common.rs"]
mod common;
#[path = "ledger/entry.rs"]
mod entry;
#[path = "ledger/merkle.rs"]
mod merkle;
#[path = "ledger/note.rs"]
mod note;
#[path = "ledger/proof_file.rs"]
mod proof_file;
