//! Checkpoint tests: round trip, snapshot, strict parsing, origin and key checks.

use expect_test::expect;
use ledger::{
    Checkpoint, CheckpointError, Hash, Note, NoteError, SignerKey, TreeHead, verify_consistency,
};

use crate::common::{leaves, mem_tree};

const ORIGIN: &str = "aigov.example/audit";

fn log_key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, [7; 32]).unwrap()
}

fn ct_root() -> Hash {
    Hash::from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328").unwrap()
}

#[test]
fn signed_checkpoint_snapshot_and_round_trip() {
    let key = log_key();
    let cp = Checkpoint::new(
        ORIGIN,
        TreeHead {
            size: 8,
            root: ct_root(),
        },
    );
    let signed = cp.sign(&key).unwrap();
    expect![[r#"
        aigov.example/audit
        8
        XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

        — aigov.example/audit ZRd14qgspGsmVNiLyd7oRR4yMy4TZg1FkUssmfGinTGfOR3wK7Wj5O3nyB8Td9kOlfu0AnmBGtZK5jcHPZLUxBytZgY=
    "#]]
    .assert_eq(&signed);
    expect!["aigov.example/audit+651775e2+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"]
        .assert_eq(&key.verifier().to_string());

    let opened = Checkpoint::open(signed.as_bytes(), ORIGIN, &key.verifier()).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(
        opened.head(),
        TreeHead {
            size: 8,
            root: ct_root()
        }
    );
    assert_eq!(Checkpoint::parse_text(&cp.to_text().unwrap()).unwrap(), cp);
}

#[test]
fn checkpoints_chain_with_consistency_proofs() {
    let data = leaves(40);
    let tree = mem_tree(&data);
    let key = log_key();
    let old = Checkpoint::new(
        ORIGIN,
        TreeHead {
            size: 17,
            root: tree.root_at(17).unwrap(),
        },
    )
    .sign(&key)
    .unwrap();
    let new = Checkpoint::new(ORIGIN, tree.head()).sign(&key).unwrap();
    let old = Checkpoint::open(old.as_bytes(), ORIGIN, &key.verifier()).unwrap();
    let new = Checkpoint::open(new.as_bytes(), ORIGIN, &key.verifier()).unwrap();
    let proof = tree.consistency_proof(old.size, new.size).unwrap();
    verify_consistency(old.size, new.size, &old.root, &new.root, &proof).unwrap();
}

#[test]
fn open_checks_key_origin_and_signature() {
    let key = log_key();
    let cp = Checkpoint::new(
        ORIGIN,
        TreeHead {
            size: 8,
            root: ct_root(),
        },
    );
    let signed = cp.sign(&key).unwrap();

    let other = SignerKey::from_seed(ORIGIN, [8; 32]).unwrap();
    assert_eq!(
        Checkpoint::open(signed.as_bytes(), ORIGIN, &other.verifier()),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
    );
    assert_eq!(
        Checkpoint::open(signed.as_bytes(), "other.example/log", &key.verifier()),
        Err(CheckpointError::OriginMismatch {
            expected: "other.example/log".into(),
            found: ORIGIN.into()
        })
    );
    let tampered = signed.replacen("\n8\n", "\n9\n", 1);
    assert!(matches!(
        Checkpoint::open(tampered.as_bytes(), ORIGIN, &key.verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));

    // A witness cosignature is ignored when only the log key is asked for.
    let witness = SignerKey::from_seed("witness.example", [3; 32]).unwrap();
    let mut note = Note::parse(signed.as_bytes()).unwrap();
    note.sign(&witness).unwrap();
    let cosigned = note.to_string();
    assert_eq!(
        Checkpoint::open(cosigned.as_bytes(), ORIGIN, &key.verifier()).unwrap(),
        cp
    );
    assert!(Checkpoint::open(cosigned.as_bytes(), ORIGIN, &witness.verifier()).is_ok());

    // Extension lines survive signing and verification.
    let mut with_ext = cp.clone();
    with_ext.extensions = vec!["aigov-epoch 3".into()];
    let signed = with_ext.sign(&key).unwrap();
    assert!(signed.contains("\naigov-epoch 3\n\n"));
    assert_eq!(
        Checkpoint::open(signed.as_bytes(), ORIGIN, &key.verifier()).unwrap(),
        with_ext
    );
}

#[test]
fn text_parsing_is_strict() {
    let root = ct_root().to_base64();
    // The tlog-checkpoint spec's example body.
    let example =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse_text(example).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("example.com/behind-the-sofa", 20_852_163)
    );
    assert_eq!(cp.to_text().unwrap(), example);

    let ok = format!("o\n0\n{root}\n");
    assert_eq!(Checkpoint::parse_text(&ok).unwrap().size, 0);
    let cases: Vec<(String, CheckpointError)> = vec![
        (format!("o\n8\n{root}"), CheckpointError::MissingNewline),
        ("o\n8\n".into(), CheckpointError::TooFewLines),
        (
            format!("\n8\n{root}\n"),
            CheckpointError::EmptyLine { line: 1 },
        ),
        (
            format!("o\n8\n{root}\n\n"),
            CheckpointError::EmptyLine { line: 4 },
        ),
        (
            format!("o\n08\n{root}\n"),
            CheckpointError::InvalidSize("08".into()),
        ),
        (
            format!("o\n+8\n{root}\n"),
            CheckpointError::InvalidSize("+8".into()),
        ),
        (
            format!("o\n 8\n{root}\n"),
            CheckpointError::InvalidSize(" 8".into()),
        ),
        (
            format!("o\n8x\n{root}\n"),
            CheckpointError::InvalidSize("8x".into()),
        ),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            CheckpointError::InvalidSize("18446744073709551616".into()),
        ),
        (
            "o\n8\nAAAA\n".into(),
            CheckpointError::InvalidRoot("AAAA".into()),
        ),
        (
            format!("o\n8\n{}\n", root.trim_end_matches('=')),
            CheckpointError::InvalidRoot(root.trim_end_matches('=').into()),
        ),
        (
            format!("o\n8\n{}\n", ct_root().to_hex()),
            CheckpointError::InvalidRoot(ct_root().to_hex()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse_text(&text), Err(want), "{text:?}");
    }
    assert_eq!(
        Checkpoint::parse_text(&format!("o\n{}\n{root}\n", u64::MAX))
            .unwrap()
            .size,
        u64::MAX
    );

    let mut bad = Checkpoint::new(
        "two\nlines",
        TreeHead {
            size: 1,
            root: ct_root(),
        },
    );
    assert_eq!(
        bad.to_text(),
        Err(CheckpointError::InvalidOrigin("two\nlines".into()))
    );
    bad.origin = String::new();
    assert!(matches!(
        bad.to_text(),
        Err(CheckpointError::InvalidOrigin(_))
    ));
    bad.origin = "o".into();
    bad.extensions = vec![String::new()];
    assert!(matches!(
        bad.to_text(),
        Err(CheckpointError::InvalidExtension(_))
    ));
}
