//! C2SP `tlog-proof@v1` text proofs: round trips, strict parsing with line numbers, and
//! tamper detection.

use ledger::proof_file::{ProofFileError, TlogProof, verify_tlog_proof};
use ledger::{Checkpoint, CheckpointError, Hash, MemTree, SignerKey, TreeHead};

const ORIGIN: &str = "example.com/log";

fn signer() -> SignerKey {
    SignerKey::from_seed("example.com/log", [7; 32]).unwrap()
}

fn log(n: u64) -> (MemTree, Vec<Vec<u8>>) {
    let mut tree = MemTree::new();
    let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
    for e in &entries {
        tree.push_entry(e);
    }
    (tree, entries)
}

fn proof_for(tree: &MemTree, index: u64) -> TlogProof {
    let head = tree.head();
    TlogProof {
        extra: None,
        index,
        proof: ledger::inclusion_proof(tree, index, head.size).unwrap(),
        checkpoint: Checkpoint::new(ORIGIN, head).sign(&signer()).unwrap(),
    }
}

#[test]
fn round_trip_and_verify_every_index() {
    let (tree, entries) = log(13);
    let key = signer().verifier();
    for i in 0..13 {
        let p = proof_for(&tree, i);
        let text = p.to_text();
        assert_eq!(TlogProof::parse(&text).unwrap(), p);
        let proven = verify_tlog_proof(&text, &entries[i as usize], ORIGIN, &key).unwrap();
        assert_eq!((proven.index, proven.size), (i, 13));
        assert_eq!(proven.root, tree.head().root);
    }
    // Size 1: no proof lines at all, the blank line follows the index line.
    let (one, e) = log(1);
    let text = proof_for(&one, 0).to_text();
    assert!(text.contains("index 0\n\nexample.com/log\n1\n"), "{text}");
    verify_tlog_proof(&text, &e[0], ORIGIN, &key).unwrap();
}

#[test]
fn extra_line_round_trips() {
    let (tree, entries) = log(5);
    let mut p = proof_for(&tree, 3);
    p.extra = Some(b"context".to_vec());
    let text = p.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 3\n"));
    assert_eq!(TlogProof::parse(&text).unwrap(), p);
    verify_tlog_proof(&text, &entries[3], ORIGIN, &signer().verifier()).unwrap();
}

#[test]
fn malformed_proofs_name_the_line() {
    let (tree, _) = log(5);
    let good = proof_for(&tree, 2).to_text();
    let first_hash = good.lines().nth(2).unwrap().to_owned();
    let cases: Vec<(String, ProofFileError)> = vec![
        (
            good.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            ProofFileError::BadHeader("c2sp.org/tlog-proof@v2".into()),
        ),
        (
            good.replacen("index 2", "index 02", 1),
            ProofFileError::BadIndex {
                line: 2,
                found: "index 02".into(),
            },
        ),
        (
            good.replacen("index 2", "idx 2", 1),
            ProofFileError::BadIndex {
                line: 2,
                found: "idx 2".into(),
            },
        ),
        (
            good.replacen(&first_hash, "not-base64", 1),
            ProofFileError::BadHash {
                line: 3,
                found: "not-base64".into(),
            },
        ),
        (
            good.replacen("index 2\n", "extra !!\nindex 2\n", 1),
            ProofFileError::BadExtra {
                line: 2,
                found: "extra !!".into(),
            },
        ),
        (
            good.replace("\n\n", "\n"),
            ProofFileError::MissingCheckpoint,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(TlogProof::parse(&text).unwrap_err(), want, "{text}");
    }
}

#[test]
fn tampering_is_detected() {
    let (tree, entries) = log(21);
    let key = signer().verifier();
    let p = proof_for(&tree, 9);
    let text = p.to_text();
    let head = tree.head();

    // Another entry's bytes.
    let err = verify_tlog_proof(&text, &entries[10], ORIGIN, &key).unwrap_err();
    assert!(
        matches!(
            err,
            ProofFileError::RootMismatch {
                index: 9,
                size: 21,
                ..
            }
        ),
        "{err:?}"
    );
    // A flipped proof hash.
    let mut bad = p.clone();
    bad.proof[1].0[0] ^= 1;
    let err = bad.verify(&entries[9], ORIGIN, &key).unwrap_err();
    assert!(
        matches!(err, ProofFileError::RootMismatch { .. }),
        "{err:?}"
    );
    // A missing proof hash.
    let mut short = p.clone();
    short.proof.pop();
    let err = short.verify(&entries[9], ORIGIN, &key).unwrap_err();
    assert_eq!(
        err,
        ProofFileError::ProofLength {
            index: 9,
            size: 21,
            got: 4,
            want: 5
        }
    );
    // Another index for the same proof.
    let mut moved = p.clone();
    moved.index = 8;
    assert!(moved.verify(&entries[9], ORIGIN, &key).is_err());
    let mut beyond = p.clone();
    beyond.index = 21;
    assert_eq!(
        beyond.verify(&entries[9], ORIGIN, &key).unwrap_err(),
        ProofFileError::IndexBeyondSize {
            index: 21,
            size: 21
        }
    );
    // A checkpoint with another root, signed by another key, or another origin.
    let forged = TlogProof {
        checkpoint: Checkpoint::new(
            ORIGIN,
            TreeHead {
                size: 21,
                root: Hash([3; 32]),
            },
        )
        .sign(&signer())
        .unwrap(),
        ..p.clone()
    };
    assert!(matches!(
        forged.verify(&entries[9], ORIGIN, &key).unwrap_err(),
        ProofFileError::RootMismatch { .. }
    ));
    let other = SignerKey::from_seed("example.com/log", [8; 32]).unwrap();
    let resigned = TlogProof {
        checkpoint: Checkpoint::new(ORIGIN, head).sign(&other).unwrap(),
        ..p.clone()
    };
    assert!(matches!(
        resigned.verify(&entries[9], ORIGIN, &key).unwrap_err(),
        ProofFileError::Checkpoint(_)
    ));
    assert!(matches!(
        p.verify(&entries[9], "example.com/other", &key)
            .unwrap_err(),
        ProofFileError::Checkpoint(CheckpointError::OriginMismatch { .. })
    ));
}
