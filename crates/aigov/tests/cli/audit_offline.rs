//! `aigov audit export`, `verify --dir`, `verify --from-checkpoint`, `proof` and
//! `verify --proof` as an auditor runs them: exit codes and what the output names.

use std::path::Path;

use ledger::{Checkpoint, Entry, EntryKind, Hash, Outcome, SignerKey, Timestamp, TreeHead};
use store::{LedgerStore, NewLedgerEntry, Store, StoreConfig};

use crate::run;

const ORIGIN: &str = "aigov.local/cli-test";

fn signer() -> SignerKey {
    SignerKey::from_seed("aigov.local-cli", [11; 32]).unwrap()
}

/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600_000_000;

/// An SQLite ledger of 600 entries, one a minute from 2025-01-01T00:00Z, with signed
/// checkpoints at sizes 100 and 600. Returns the checkpoint notes.
fn make_db(path: &Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&StoreConfig::Sqlite {
            path: path.to_owned(),
        })
        .await
        .unwrap();
        let mut notes = Vec::new();
        for range in [0..100u64, 100..600] {
            let batch = range
                .map(|n| {
                    let time = T0 + n as i64 * 60_000_000;
                    let e = Entry::new(
                        EntryKind::PolicyDecision,
                        Timestamp::from_unix_micros(time).unwrap(),
                        "user:alice",
                        format!("repo:svc-{n}"),
                        Outcome::Success,
                    );
                    NewLedgerEntry {
                        bytes: e.to_canonical_bytes().unwrap(),
                        time_micros: time,
                        kind: "policy_decision".into(),
                        actor: "user:alice".into(),
                        details: None,
                    }
                })
                .collect();
            let (_, head) = store.ledger_append_batch(batch).await.unwrap();
            let note = Checkpoint::new(ORIGIN, head).sign(&signer()).unwrap();
            store
                .ledger_add_checkpoint(head.size, note.clone())
                .await
                .unwrap();
            notes.push(note);
        }
        notes
    })
}

fn out(o: &std::process::Output) -> (i32, String, String) {
    (
        o.status.code().expect("exited"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn audit_export_verify_dir_and_from_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let notes = make_db(&p.join("aigov.db"));
    let key = signer().verifier().to_string();
    std::fs::write(p.join("log.key"), format!("{key}\n")).unwrap();
    let base = ["--origin", ORIGIN, "--key", key.as_str()];
    let with = |args: &[&str]| -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(base);
        out(&run(p, &all))
    };

    let (code, stdout, stderr) = with(&["audit", "export", "--db", "aigov.db", "--out", "exp"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("exported 600 entries (0..600, 3 entry bundles), 4 tiles, 2 checkpoints"),
        "{stdout}"
    );
    assert!(
        stdout.contains("anchor: checkpoint of size 600"),
        "{stdout}"
    );

    let (code, stdout, stderr) = with(&["audit", "verify", "--dir", "exp"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("600 of entries 0..600 checked, 2 checkpoints verified"),
        "{stdout}"
    );
    assert!(stdout.ends_with("ok: the export verifies\n"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");

    // Without --key: key.pub is used, loudly.
    let (code, stdout, stderr) = out(&run(
        p,
        &["audit", "verify", "--dir", "exp", "--origin", ORIGIN],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("NOT pinned"), "{stderr}");
    // --key from a file works the same; --db and --dir together do not.
    let (code, ..) = out(&run(
        p,
        &[
            "audit",
            "verify",
            "--dir",
            "exp",
            "--origin",
            ORIGIN,
            "--key",
            "file:log.key",
        ],
    ));
    assert_eq!(code, 0);
    let (code, _, stderr) = with(&["audit", "verify", "--dir", "exp", "--db", "aigov.db"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    // The output directory must be new or empty.
    let (code, _, stderr) = with(&["audit", "export", "--db", "aigov.db", "--out", "exp"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("exists and is not empty"), "{stderr}");

    // A checkpoint saved earlier is consistent, for the database and for the export.
    std::fs::write(p.join("saved-100"), &notes[0]).unwrap();
    for source in [["--db", "aigov.db"], ["--dir", "exp"]] {
        let (code, stdout, stderr) = with(&[
            "audit",
            "verify",
            source[0],
            source[1],
            "--from-checkpoint",
            "saved-100",
        ]);
        assert_eq!(code, 0, "{source:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("ok: checkpoint saved-100 (size 100) is consistent with size 600"),
            "{source:?}: {stdout}"
        );
    }
    // A fork signed with the log's key is not, and says so.
    let fork = Checkpoint::new(
        ORIGIN,
        TreeHead {
            size: 100,
            root: Hash([7; 32]),
        },
    )
    .sign(&signer())
    .unwrap();
    std::fs::write(p.join("fork"), fork).unwrap();
    for source in [["--db", "aigov.db"], ["--dir", "exp"]] {
        let (code, stdout, _) = with(&[
            "audit",
            "verify",
            source[0],
            source[1],
            "--from-checkpoint",
            "fork",
        ]);
        assert_eq!(code, 1, "{source:?}: {stdout}");
        assert!(
            stdout.contains("problem: checkpoint fork (size 100) is NOT consistent with size 600"),
            "{source:?}: {stdout}"
        );
        assert!(stdout.contains("the log was rewritten"), "{stdout}");
    }

    // One flipped byte in an exported entry is found and located.
    let bundle = p.join("exp/tile/entries/001");
    let mut data = std::fs::read(&bundle).unwrap();
    let at = data.windows(7).position(|w| w == b"svc-300").unwrap();
    data[at] ^= 1;
    std::fs::write(&bundle, data).unwrap();
    let (code, stdout, _) = with(&["audit", "verify", "--dir", "exp"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            "problem: entry 300 in `tile/entries/001` does not match its leaf hash in the level-0 tile"
        ),
        "{stdout}"
    );

    // Ranges by time: 05:00 is entry 300 (bundles start at 256), 2025-01-02 is after all.
    let (code, stdout, stderr) = with(&[
        "audit",
        "export",
        "--db",
        "aigov.db",
        "--out",
        "range",
        "--from",
        "2025-01-01T05:00:00Z",
        "--to",
        "2025-01-02",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("exported 344 entries (256..600, 2 entry bundles)"),
        "{stdout}"
    );
    let (code, _, stderr) = with(&[
        "audit",
        "export",
        "--db",
        "aigov.db",
        "--out",
        "bad",
        "--from",
        "yesterday",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid --from `yesterday`"), "{stderr}");
    let (code, _, stderr) = with(&[
        "audit", "export", "--db", "aigov.db", "--out", "bad", "--from", "500", "--to", "100",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("entry range 500..100 is reversed"),
        "{stderr}"
    );
    assert!(!p.join("bad").exists() && !p.join("bad.partial").exists());
}

#[test]
fn audit_proof_and_verify_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    make_db(&p.join("aigov.db"));
    let key = signer().verifier().to_string();

    let (code, stdout, stderr) = out(&run(
        p,
        &[
            "audit",
            "proof",
            "--db",
            "aigov.db",
            "--index",
            "321",
            "--out",
            "e321.tlog-proof",
            "--entry-out",
            "e321.json",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("entry 321 against checkpoint 2 (size 600)"),
        "{stderr}"
    );
    let proof = std::fs::read_to_string(p.join("e321.tlog-proof")).unwrap();
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 321\n"),
        "{proof}"
    );
    // To stdout without --out.
    let (code, stdout, _) = out(&run(
        p,
        &["audit", "proof", "--db", "aigov.db", "--index", "321"],
    ));
    assert_eq!((code, stdout.as_str()), (0, proof.as_str()));

    let verify = |proof: &str, entry: &str| {
        out(&run(
            p,
            &[
                "audit", "verify", "--proof", proof, "--entry", entry, "--origin", ORIGIN, "--key",
                &key,
            ],
        ))
    };
    let (code, stdout, stderr) = verify("e321.tlog-proof", "e321.json");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("ok: entry 321 is in the log `aigov.local/cli-test` of 600 entries"),
        "{stdout}"
    );
    assert!(
        stdout.contains("policy_decision by `user:alice` on `repo:svc-321`"),
        "{stdout}"
    );

    // Another entry's bytes, or a changed proof, fail with exit 1.
    let other = std::fs::read_to_string(p.join("e321.json"))
        .unwrap()
        .replace("svc-321", "svc-322");
    std::fs::write(p.join("other.json"), other).unwrap();
    let (code, stdout, _) = verify("e321.tlog-proof", "other.json");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("problem: e321.tlog-proof: entry 321 with this proof leads to root"),
        "{stdout}"
    );
    std::fs::write(
        p.join("bad.tlog-proof"),
        proof.replacen("index 321", "index 0321", 1),
    )
    .unwrap();
    let (code, stdout, _) = verify("bad.tlog-proof", "e321.json");
    assert_eq!(code, 1);
    assert!(stdout.contains("line 2: expected `index <n>`"), "{stdout}");

    // An index the newest checkpoint does not cover is a tool failure.
    let (code, _, stderr) = out(&run(
        p,
        &["audit", "proof", "--db", "aigov.db", "--index", "600"],
    ));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("entry 600 is not below the checkpoint's tree size 600"),
        "{stderr}"
    );
    // --proof needs --entry.
    let (code, _, stderr) = out(&run(
        p,
        &[
            "audit",
            "verify",
            "--proof",
            "e321.tlog-proof",
            "--origin",
            ORIGIN,
            "--key",
            &key,
        ],
    ));
    assert_eq!(code, 2, "{stderr}");
}
