//! Signed note tests: the golang.org/x/mod/sumdb/note example, tampering, wrong keys,
//! unknown signatures, strict parsing and key strings.

use ledger::note::{MAX_NOTE_BYTES, MAX_SIGNATURES, key_id};
use ledger::{KeyError, Note, NoteError, SignerKey, VerifierKey};

use crate::common::read_test_data;

fn peter() -> (VerifierKey, SignerKey, String) {
    let vkey = read_test_data("note/PeterNeumann.vkey");
    let skey = read_test_data("note/PeterNeumann.skey");
    let note = read_test_data("note/PeterNeumann.note");
    (
        VerifierKey::parse(vkey.trim_end()).unwrap(),
        SignerKey::parse(skey.trim_end()).unwrap(),
        note,
    )
}

/// Which error a malformed note must produce.
type Check = fn(&NoteError) -> bool;

const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

#[test]
fn reference_example_verifies() {
    let (vkey, _, msg) = peter();
    assert_eq!(vkey.name(), "PeterNeumann");
    assert_eq!(vkey.key_id(), 0xc74f20a3);
    let opened = Note::open(msg.as_bytes(), std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(opened.note.text(), TEXT);
    assert_eq!(opened.verified_by, vec![vkey.clone()]);
    assert_eq!(opened.note.signatures().len(), 1);
    assert_eq!(opened.note.to_string(), msg, "re-encodes byte for byte");
    assert_eq!(
        vkey.to_string(),
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    );
}

#[test]
fn c2sp_spec_example_verifies() {
    let vkey = VerifierKey::parse(read_test_data("note/example.com-foo.vkey").trim_end()).unwrap();
    assert_eq!(
        (vkey.name(), vkey.key_id()),
        ("example.com/foo", 0x530d903a)
    );
    let msg = read_test_data("note/example.com-foo.note");
    let opened = Note::open(msg.as_bytes(), std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(opened.note.text(), "This is an example message.\n");
    assert_eq!(opened.note.to_string(), msg);
    let (peter, _, _) = peter();
    assert_eq!(
        Note::open(msg.as_bytes(), &[peter]),
        Err(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn doubly_signed_reference_example() {
    let (peter, _, single) = peter();
    let enoch = VerifierKey::parse(read_test_data("note/EnochRoot.vkey").trim_end()).unwrap();
    let msg = read_test_data("note/PeterNeumann-EnochRoot.note");
    for known in [
        vec![peter.clone()],
        vec![enoch.clone()],
        vec![enoch.clone(), peter.clone()],
    ] {
        let opened = Note::open(msg.as_bytes(), &known).unwrap();
        assert_eq!(opened.note.text(), TEXT);
        assert_eq!(opened.verified_by.len(), known.len());
    }
    // The Go example generates EnochRoot's key from an all-zero random source.
    let enoch_signer = SignerKey::from_seed("EnochRoot", [0; 32]).unwrap();
    assert_eq!(enoch_signer.verifier(), enoch);
    let mut note = Note::parse(single.as_bytes()).unwrap();
    note.sign(&enoch_signer).unwrap();
    assert_eq!(note.to_string(), msg);
}

#[test]
fn reference_signer_reproduces_the_example() {
    let (vkey, skey, msg) = peter();
    assert_eq!(skey.verifier(), vkey);
    assert_eq!(
        skey.to_secret_string(),
        read_test_data("note/PeterNeumann.skey").trim_end()
    );
    let mut note = Note::new(TEXT).unwrap();
    note.sign(&skey).unwrap();
    assert_eq!(note.to_string(), msg, "Ed25519 is deterministic");
    // Signing again replaces rather than duplicates.
    note.sign(&skey).unwrap();
    assert_eq!(note.to_string(), msg);
    let dbg = format!("{skey:?}");
    assert!(
        dbg.contains("redacted") && !dbg.contains("AYEKFALV"),
        "{dbg}"
    );
}

#[test]
fn modified_text_fails() {
    let (vkey, _, msg) = peter();
    for tampered in [
        msg.replace("cryptography", "cryptographY"),
        msg.replace("problem,\n", "problem;\n"),
        msg.replacen("If", "if", 1),
        format!("extra line\n{msg}"),
    ] {
        let err = Note::open(tampered.as_bytes(), std::slice::from_ref(&vkey)).unwrap_err();
        assert_eq!(
            err,
            NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            },
            "{tampered}"
        );
    }
    // A flipped signature byte fails too.
    let mut sig_flip = Note::parse(msg.as_bytes()).unwrap();
    let mut raw = sig_flip.signatures()[0].clone();
    raw.signature[10] ^= 1;
    sig_flip = Note::parse(format!("{TEXT}\n{}", raw.to_line()).as_bytes()).unwrap();
    assert!(matches!(
        sig_flip.verify(&[vkey]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn wrong_key_fails() {
    let (_, _, msg) = peter();
    // Same name, different key: different key id, so the signature is unknown.
    let other = SignerKey::from_seed("PeterNeumann", [9; 32])
        .unwrap()
        .verifier();
    assert_ne!(other.key_id(), 0xc74f20a3);
    assert_eq!(
        Note::open(msg.as_bytes(), &[other]),
        Err(NoteError::NoVerifiedSignature)
    );
    assert_eq!(
        Note::open(msg.as_bytes(), &[]),
        Err(NoteError::NoVerifiedSignature)
    );
    // Same key id claimed under another name is not the key either.
    let renamed = msg.replace("— PeterNeumann", "— PaulNeumann");
    let (vkey, _, _) = peter();
    assert_eq!(
        Note::open(renamed.as_bytes(), &[vkey]),
        Err(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn unknown_signatures_are_ignored_and_cosigning_works() {
    let (vkey, skey, msg) = peter();
    let enoch = SignerKey::from_seed("EnochRoot", [1; 32]).unwrap();
    let mut note = Note::parse(msg.as_bytes()).unwrap();
    note.sign(&enoch).unwrap();
    let two = note.to_string();
    assert!(two.starts_with(&msg));
    assert_eq!(two.lines().filter(|l| l.starts_with('—')).count(), 2);

    let by_peter = Note::open(two.as_bytes(), std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(by_peter.verified_by, vec![vkey.clone()]);
    let by_enoch = Note::open(two.as_bytes(), &[enoch.verifier()]).unwrap();
    assert_eq!(by_enoch.verified_by, vec![enoch.verifier()]);
    let both = Note::open(two.as_bytes(), &[enoch.verifier(), vkey.clone()]).unwrap();
    assert_eq!(both.verified_by.len(), 2);

    // A bad signature by a known key rejects the note even if another verifies.
    let mut forged = Note::new("forged\n").unwrap();
    forged.sign(&enoch).unwrap();
    let enoch_line = forged.signatures()[0].to_line();
    let mixed = format!(
        "{TEXT}\n{}{}",
        Note::parse(msg.as_bytes()).unwrap().signatures()[0].to_line(),
        enoch_line
    );
    assert!(
        Note::open(mixed.as_bytes(), std::slice::from_ref(&vkey)).is_ok(),
        "unknown bad signature ignored"
    );
    assert!(matches!(
        Note::open(mixed.as_bytes(), &[vkey, enoch.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    let _ = skey;
}

#[test]
fn parsing_is_strict() {
    let (vkey, _, msg) = peter();
    let sig_line = msg.lines().last().unwrap().to_owned();
    let b64 = sig_line.rsplit(' ').next().unwrap().to_owned();
    let cases: Vec<(String, Check)> = vec![
        (msg.replace("\n\n", "\n"), |e| {
            matches!(e, NoteError::MissingSignatures)
        }),
        (msg.trim_end().to_owned(), |e| {
            matches!(e, NoteError::MissingFinalNewline)
        }),
        (format!("{TEXT}\n"), |e| {
            matches!(e, NoteError::MissingSignatures)
        }),
        (msg.replace("problem,", "problem,\r"), |e| {
            matches!(e, NoteError::ControlCharacter { code: 0x0d, .. })
        }),
        (msg.replace("problem,", "problem,\t"), |e| {
            matches!(e, NoteError::ControlCharacter { .. })
        }),
        (msg.replace('—', "-"), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace("— ", "—  "), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace("PeterNeumann", "Peter+Neumann"), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace("PeterNeumann", "Peter\u{a0}Neumann"), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace(&b64, ""), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace(&b64, "AAAA"), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace(&b64, &b64[..b64.len() - 1]), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace(&b64, &format!("{b64} ")), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (msg.replace(&b64, &b64.replace('=', "")), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
        (format!("{msg}\n"), |e| {
            matches!(e, NoteError::MissingSignatures)
        }),
        (format!("{msg}{sig_line}\n\n"), |e| {
            matches!(e, NoteError::MissingSignatures)
        }),
        (format!("{msg}not a signature\n"), |e| {
            matches!(e, NoteError::MalformedSignatureLine(_))
        }),
    ];
    for (input, check) in cases {
        let err = Note::open(input.as_bytes(), std::slice::from_ref(&vkey)).unwrap_err();
        assert!(check(&err), "{input:?}: {err:?}");
    }

    // Non-canonical base64: the last character carries non-zero unused bits.
    let last = b64.as_bytes()[b64.len() - 2];
    let bumped = (last + 1) as char;
    let noncanonical = format!("{}{}=", &b64[..b64.len() - 2], bumped);
    let err = Note::open(
        msg.replace(&b64, &noncanonical).as_bytes(),
        std::slice::from_ref(&vkey),
    )
    .unwrap_err();
    assert!(
        matches!(err, NoteError::MalformedSignatureLine(_)),
        "{err:?}"
    );

    let mut invalid_utf8 = msg.clone().into_bytes();
    invalid_utf8[3] = 0xff;
    assert_eq!(Note::parse(&invalid_utf8), Err(NoteError::NotUtf8));

    let big = format!("{}\n\n{sig_line}\n", "x".repeat(MAX_NOTE_BYTES));
    assert!(matches!(
        Note::parse(big.as_bytes()),
        Err(NoteError::TooLarge { .. })
    ));

    let many = format!(
        "{TEXT}\n{}",
        format!("{sig_line}\n").repeat(MAX_SIGNATURES + 1)
    );
    assert_eq!(
        Note::parse(many.as_bytes()),
        Err(NoteError::TooManySignatures {
            max: MAX_SIGNATURES
        })
    );
    let sixteen = format!("{TEXT}\n{}", format!("{sig_line}\n").repeat(16));
    assert!(
        Note::open(sixteen.as_bytes(), &[vkey]).is_ok(),
        "at least 16 signatures accepted"
    );

    assert_eq!(Note::new("no newline"), Err(NoteError::TextWithoutNewline));
    assert_eq!(Note::new(""), Err(NoteError::TextWithoutNewline));
    assert!(matches!(
        Note::new("bell\u{7}\n"),
        Err(NoteError::ControlCharacter { code: 7, .. })
    ));
}

#[test]
fn key_strings_are_checked() {
    let good = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert!(matches!(
        VerifierKey::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::KeyIdMismatch {
            stated: 0xc74f20a4,
            computed: 0xc74f20a3,
            ..
        })
    ));
    assert!(matches!(
        VerifierKey::parse(&good.replace("PeterNeumann", "PeterNeumannn")),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        VerifierKey::parse(&good.replace("c74f20a3", "C74F20A3")),
        Err(KeyError::MalformedVerifier(_))
    ));
    assert!(matches!(
        VerifierKey::parse(&good.replace("ARpc", "AR*c")),
        Err(KeyError::MalformedVerifier(_))
    ));
    // Type byte 0x02 (ECDSA) is not supported.
    assert!(matches!(
        VerifierKey::parse(&good.replace("+ARpc", "+Ahpc")),
        Err(KeyError::UnsupportedAlgorithm(0x02))
    ));
    assert!(matches!(
        VerifierKey::parse("PeterNeumann"),
        Err(KeyError::MalformedVerifier(_))
    ));
    assert!(matches!(
        VerifierKey::parse(" +c74f20a3+AA=="),
        Err(KeyError::InvalidName(_))
    ));
    assert!(matches!(
        VerifierKey::parse("+c74f20a3+AA=="),
        Err(KeyError::InvalidName(_))
    ));
    // An all-zero-order public key (the identity point) is refused.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        VerifierKey::from_public_key("weak", identity),
        Err(KeyError::InvalidPublicKey(_))
    ));

    let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    assert!(SignerKey::parse(skey).is_ok());
    for bad in [
        skey.replace("PRIVATE+KEY+", ""),
        skey.replace("c74f20a3", "c74f20a4"),
        skey.replace("+AYEK", "+AoEK"),
        skey.replace("DFz", "DF"),
    ] {
        let err = SignerKey::parse(&bad).unwrap_err();
        assert!(
            !err.to_string().contains("AYEKFALV"),
            "error leaks the secret: {err}"
        );
    }
    assert!(matches!(
        SignerKey::from_seed("a b", [0; 32]),
        Err(KeyError::InvalidName(_))
    ));

    // Key ids follow SHA-256(name || 0x0A || 0x01 || key)[:4].
    let v = VerifierKey::parse(good).unwrap();
    let mut typed = vec![1u8];
    typed.extend_from_slice(&v.public_key());
    assert_eq!(key_id("PeterNeumann", &typed), 0xc74f20a3);

    // A fresh signer from a caller-supplied seed round-trips through its strings.
    let s = SignerKey::from_seed("aigov.example/audit", [42; 32]).unwrap();
    let again = SignerKey::parse(&s.to_secret_string()).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    assert_eq!(
        VerifierKey::parse(&s.verifier().to_string()).unwrap(),
        s.verifier()
    );
}
