//! The log as C2SP `tlog-tiles`: tile paths, tiles and entry bundles read from the store,
//! `tlog-proof` files, `export` then `verify_dir` with every kind of tampering located, and
//! `--from-checkpoint` consistency against a database and an export.

use std::path::Path;

use audit::export::first_index_at;
use audit::tiles::{
    ProofFileError, TileError, TilePath, TilePathError, read_entry_bundle, read_tile,
    split_entry_bundle, tlog_proof, verify_tlog_proof,
};
use audit::{
    Consistency, ExportError, ExportOptions, Inconsistency, Problem, check_consistency,
    check_consistency_dir, export, verify_dir,
};
use ledger::{Checkpoint, Hash, MemTree, NodeId, TileId, TreeHead, leaf_hash};
use store::{LedgerStore, NewLedgerEntry, Store};

use crate::{ORIGIN, TestDb, backends, entry, signer};

/// Appends entries `0..n` in batches and signs a checkpoint at each of `checkpoints` (and at
/// `n`). Returns the store and the entries' bytes.
async fn tiled_log(db: &TestDb, n: u64, checkpoints: &[u64]) -> (Store, Vec<Vec<u8>>) {
    let store = Store::open(&db.config).await.unwrap();
    let bytes: Vec<Vec<u8>> = (0..n)
        .map(|i| entry(0, i).to_canonical_bytes().unwrap())
        .collect();
    let mut stops: Vec<u64> = checkpoints.iter().copied().filter(|&s| s < n).collect();
    stops.push(n);
    let mut at = 0u64;
    for stop in stops {
        while at < stop {
            let end = stop.min(at + 8192);
            let batch = (at..end)
                .map(|i| NewLedgerEntry {
                    bytes: bytes[i as usize].clone(),
                    time_micros: entry(0, i).time.unix_micros(),
                    kind: "policy_decision".into(),
                    actor: "actor-0".into(),
                    details: None,
                })
                .collect();
            store.ledger_append_batch(batch).await.unwrap();
            at = end;
        }
        let head = store.ledger_head().await.unwrap();
        let note = Checkpoint::new(ORIGIN, head).sign(&signer()).unwrap();
        store.ledger_add_checkpoint(head.size, note).await.unwrap();
    }
    (store, bytes)
}

fn options(out: &Path, from: u64, to: Option<u64>) -> ExportOptions {
    ExportOptions {
        out_dir: out.to_owned(),
        origin: ORIGIN.into(),
        key: signer().verifier(),
        from,
        to,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x01;
    std::fs::write(path, data).unwrap();
}

/// Every file below `dir`, as sorted relative paths.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn tile_paths_parse_canonical_forms_only() {
    fn check(input: &str, expect: Result<&str, &str>) {
        let got = TilePath::parse(input);
        match (got, expect) {
            (Ok(p), Ok(canonical)) => {
                assert_eq!(p.path(), canonical, "{input}");
                assert_eq!(TilePath::parse(&p.path()), Ok(p), "{input} round trip");
            }
            (Err(e), Err(kind)) => {
                let got = match e {
                    TilePathError::NotATile(_) => "not a tile",
                    TilePathError::Level(_) => "level",
                    TilePathError::Index(_) => "index",
                    TilePathError::Width(_) => "width",
                };
                assert_eq!(got, kind, "{input}: {e}");
                assert!(e.to_string().contains(&format!("`{input}`")), "{e}");
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }
    check("tile/0/000", Ok("tile/0/000"));
    check("tile/0/001.p/5", Ok("tile/0/001.p/5"));
    check("tile/3/x001/x234/067", Ok("tile/3/x001/x234/067"));
    check("tile/63/999.p/255", Ok("tile/63/999.p/255"));
    check("tile/entries/000", Ok("tile/entries/000"));
    check("tile/entries/x001/234.p/1", Ok("tile/entries/x001/234.p/1"));
    check("tile/0/1", Err("index"));
    check("tile/0/0001", Err("index"));
    check("tile/0/x000/001", Err("index"));
    check("tile/0/001/002", Err("index"));
    check("tile/0/x1/002", Err("index"));
    check("tile/0/abc", Err("index"));
    check("tile/0/001.p/256", Err("width"));
    check("tile/0/001.p/0", Err("width"));
    check("tile/0/001.p/05", Err("width"));
    check("tile/0/001.p/", Err("width"));
    check("tile/01/000", Err("level"));
    check("tile/64/000", Err("level"));
    check("tile/-1/000", Err("level"));
    check("tile/0/", Err("not a tile"));
    check("tile/0", Err("not a tile"));
    check("/tile/0/000", Err("not a tile"));
    check("tiles/0/000", Err("not a tile"));
    check("tile/0//000", Err("not a tile"));

    assert_eq!(
        TilePath::parse("tile/2/x001/234.p/7"),
        Ok(TilePath::Hash(TileId {
            level: 2,
            index: 1234,
            width: 7
        }))
    );
    assert_eq!(
        TilePath::parse("tile/entries/005"),
        Ok(TilePath::Entries {
            index: 5,
            width: 256
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_and_entry_bundles_follow_the_spec() {
    for db in backends().await {
        let b = db.label;
        let (store, bytes) = tiled_log(&db, 600, &[]).await;
        let leaves: Vec<Hash> = bytes.iter().map(|e| leaf_hash(e)).collect();
        let concat = |hs: &[Hash]| hs.iter().flat_map(|h| h.0).collect::<Vec<u8>>();

        let full = read_tile(&store, TileId::full(0, 1), 600).await.unwrap();
        assert_eq!(full.len(), 8192, "{b}");
        assert_eq!(full, concat(&leaves[256..512]), "{b}");
        let edge = TileId {
            level: 0,
            index: 2,
            width: 88,
        };
        assert_eq!(
            read_tile(&store, edge, 600).await.unwrap(),
            concat(&leaves[512..600]),
            "{b}"
        );
        // An older size's partial tile is still served; one beyond the edge is not.
        let older = TileId { width: 50, ..edge };
        assert_eq!(
            read_tile(&store, older, 600).await.unwrap(),
            concat(&leaves[512..562])
        );
        for missing in [
            TileId::full(0, 2),
            TileId { width: 89, ..edge },
            TileId::full(1, 0),
            TileId::full(0, u64::MAX),
            TileId::full(63, u64::MAX),
        ] {
            let err = read_tile(&store, missing, 600).await.unwrap_err();
            assert!(
                matches!(&err, TileError::NotFound { path, size: 600 } if *path == missing.path()),
                "{b}: {err}"
            );
        }
        // Level 1: the hash of each full level-0 tile (tree level 8).
        let mut mem = MemTree::new();
        for e in &bytes {
            mem.push_entry(e);
        }
        let l1 = read_tile(
            &store,
            TileId {
                level: 1,
                index: 0,
                width: 2,
            },
            600,
        )
        .await
        .unwrap();
        assert_eq!(l1[..32], mem.root_at(256).unwrap().0, "{b}");

        // Entry bundles: big-endian u16 length, then the entry, 256 per full bundle.
        let bundle = read_entry_bundle(&store, 0, 256, 600).await.unwrap();
        let len0 = usize::from(u16::from_be_bytes([bundle[0], bundle[1]]));
        assert_eq!(len0, bytes[0].len(), "{b}");
        assert_eq!(&bundle[2..2 + len0], &bytes[0][..], "{b}");
        let split = split_entry_bundle(&bundle).unwrap();
        assert_eq!(split.len(), 256);
        assert!(split.iter().zip(&bytes).all(|(a, b)| *a == &b[..]));
        assert_eq!(
            bundle.len(),
            bytes[..256].iter().map(|e| e.len() + 2).sum::<usize>()
        );
        let partial = read_entry_bundle(&store, 2, 88, 600).await.unwrap();
        assert_eq!(split_entry_bundle(&partial).unwrap().len(), 88);
        assert!(matches!(
            read_entry_bundle(&store, 2, 89, 600).await.unwrap_err(),
            TileError::NotFound { .. }
        ));
        assert!(matches!(
            read_entry_bundle(&store, 2, 256, 600).await.unwrap_err(),
            TileError::NotFound { .. }
        ));
        assert_eq!(split_entry_bundle(&partial[..partial.len() - 1]), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlog_proofs_round_trip_and_detect_tampering() {
    for db in backends().await {
        let b = db.label;
        let (store, bytes) = tiled_log(&db, 100, &[40]).await;
        let key = signer().verifier();
        let cps = store.ledger_checkpoints().await.unwrap();
        let (at40, at100) = (&cps[0], &cps[1]);
        assert_eq!((at40.size, at100.size), (40, 100));

        let text = tlog_proof(&store, 37, at100).await.unwrap();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nindex 37\n"),
            "{b}: {text}"
        );
        assert!(text.ends_with(&at100.note), "{b}: checkpoint verbatim");
        let proven = verify_tlog_proof(&text, &bytes[37], ORIGIN, &key).unwrap();
        assert_eq!((proven.index, proven.size), (37, 100), "{b}");
        assert_eq!(proven.root, store.ledger_head().await.unwrap().root);
        let older = tlog_proof(&store, 37, at40).await.unwrap();
        assert_eq!(
            verify_tlog_proof(&older, &bytes[37], ORIGIN, &key)
                .unwrap()
                .size,
            40
        );

        // Another entry's bytes, a changed proof line, a changed index, another origin.
        assert!(matches!(
            verify_tlog_proof(&text, &bytes[38], ORIGIN, &key),
            Err(ProofFileError::RootMismatch { index: 37, .. })
        ));
        let line3 = text.lines().nth(2).unwrap();
        let mut h = Hash::from_base64(line3).unwrap();
        h.0[31] ^= 1;
        let changed = text.replacen(line3, &h.to_base64(), 1);
        assert!(matches!(
            verify_tlog_proof(&changed, &bytes[37], ORIGIN, &key),
            Err(ProofFileError::RootMismatch { .. })
        ));
        let moved = text.replacen("index 37", "index 36", 1);
        assert!(verify_tlog_proof(&moved, &bytes[37], ORIGIN, &key).is_err());
        assert!(matches!(
            verify_tlog_proof(&text, &bytes[37], "aigov.local/other", &key),
            Err(ProofFileError::Checkpoint(_))
        ));
        assert!(matches!(
            tlog_proof(&store, 40, at40).await,
            Err(TileError::IndexOutOfRange {
                index: 40,
                size: 40
            })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_verify_dir_locates_every_tampering() {
    let key = signer().verifier();
    for db in backends().await {
        let b = db.label;
        let (store, bytes) = tiled_log(&db, 600, &[40, 256, 256, 300]).await;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("export");
        let summary = export(&store, options(&out, 0, None)).await.unwrap();
        assert_eq!(summary.anchor.size, 600, "{b}");
        assert_eq!(summary.entries, 0..600);
        assert_eq!((summary.entry_bundles, summary.tiles), (3, 4), "{b}");
        // Size 256 was checkpointed twice: one file.
        assert_eq!(summary.checkpoints, 4, "{b}");
        assert!(!tmp.path().join("export.partial").exists());
        let files = listing(&out);
        let expected = [
            "README.md",
            "checkpoint",
            "checkpoints/256",
            "checkpoints/300",
            "checkpoints/40",
            "checkpoints/600",
            "key.pub",
            "manifest.json",
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/88",
            "tile/1/000.p/2",
            "tile/entries/000",
            "tile/entries/001",
            "tile/entries/002.p/88",
        ];
        assert_eq!(files, expected, "{b}");
        let bytes_on_disk: u64 = files
            .iter()
            .map(|f| std::fs::metadata(out.join(f)).unwrap().len())
            .sum();
        assert_eq!(summary.bytes, bytes_on_disk, "{b}");
        assert_eq!(
            std::fs::read_to_string(out.join("checkpoint")).unwrap(),
            store
                .ledger_checkpoints()
                .await
                .unwrap()
                .last()
                .unwrap()
                .note,
            "{b}: anchor byte-exact"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["anchor"]["size"], 600);
        assert_eq!(manifest["entries"]["to"], 600);
        assert_eq!(manifest["key"]["verifier"], key.to_string());
        let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
        assert!(
            readme.contains("aigov audit verify --dir DIR --origin aigov.local/test --key KEY")
        );

        let clean = verify_dir(&out, ORIGIN, &key).unwrap();
        assert!(clean.is_ok(), "{b}: {:#?}", clean.problems);
        assert!(clean.warnings.is_empty(), "{b}: {:?}", clean.warnings);
        assert_eq!(clean.entries_checked, 600);
        assert_eq!(clean.checkpoints, 4);
        assert_eq!(clean.tiles, 4);
        assert_eq!(
            clean.computed,
            Some(store.ledger_head().await.unwrap()),
            "{b}"
        );

        let entry300 = {
            // Offset of entry 300's bytes in bundle 1: skip 44 entries and their prefixes.
            let skip: usize = bytes[256..300].iter().map(|e| e.len() + 2).sum();
            skip + 2
        };
        let forged_40 = Checkpoint::new(
            ORIGIN,
            TreeHead {
                size: 40,
                root: Hash([5; 32]),
            },
        )
        .sign(&signer())
        .unwrap();
        type Tamper = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Tamper)> = vec![
            (
                "entry 300 in a bundle",
                Box::new(move |d| {
                    // A letter of the subject: still a valid entry, another hash.
                    let text = String::from_utf8(bytes[300].clone()).unwrap();
                    let at = text.find("svc-300").unwrap();
                    flip_byte(&d.join("tile/entries/001"), entry300 + at);
                }),
            ),
            (
                "a bundle length prefix",
                Box::new(|d| flip_byte(&d.join("tile/entries/002.p/88"), 0)),
            ),
            (
                "leaf hash 5 in a level-0 tile",
                Box::new(|d| flip_byte(&d.join("tile/0/000"), 5 * 32 + 7)),
            ),
            (
                "a level-1 tile",
                Box::new(|d| flip_byte(&d.join("tile/1/000.p/2"), 32 + 1)),
            ),
            (
                "a checkpoint file",
                Box::new(|d| {
                    let p = d.join("checkpoints/256");
                    let text = std::fs::read_to_string(&p).unwrap();
                    std::fs::write(&p, text.replacen("\n256\n", "\n255\n", 1)).unwrap();
                }),
            ),
            (
                "a forged checkpoint file",
                Box::new(move |d| std::fs::write(d.join("checkpoints/40"), &forged_40).unwrap()),
            ),
            (
                "a deleted tile",
                Box::new(|d| std::fs::remove_file(d.join("tile/0/001")).unwrap()),
            ),
            (
                "a truncated tile",
                Box::new(|d| {
                    let p = d.join("tile/0/002.p/88");
                    let data = std::fs::read(&p).unwrap();
                    std::fs::write(&p, &data[..data.len() - 1]).unwrap();
                }),
            ),
            (
                "an extra tile",
                Box::new(|d| {
                    std::fs::create_dir_all(d.join("tile/0/003.p")).unwrap();
                    std::fs::write(d.join("tile/0/003.p/1"), [0; 32]).unwrap();
                }),
            ),
            (
                "the anchor",
                Box::new(|d| flip_byte(&d.join("checkpoint"), 20)),
            ),
            (
                "an anchor claiming a huge log",
                Box::new(|d| {
                    let huge = TreeHead {
                        size: 1 << 50,
                        root: Hash([1; 32]),
                    };
                    let note = Checkpoint::new(ORIGIN, huge).sign(&signer()).unwrap();
                    std::fs::write(d.join("checkpoint"), note).unwrap();
                }),
            ),
        ];
        for (what, tamper) in cases {
            let dir = tmp.path().join(what.replace(' ', "-"));
            copy_dir(&out, &dir);
            tamper(&dir);
            let r = verify_dir(&dir, ORIGIN, &key).unwrap();
            let msg = format!("{b} {what}: {:#?}", r.problems);
            assert!(!r.is_ok(), "{msg}");
            match what {
                "entry 300 in a bundle" => {
                    assert_eq!(
                        r.problems,
                        [Problem::BundleEntryModified {
                            path: "tile/entries/001".into(),
                            index: 300
                        }],
                        "{msg}"
                    );
                }
                "a bundle length prefix" => {
                    assert_eq!(r.bad_files(), ["tile/entries/002.p/88"], "{msg}");
                    assert!(
                        r.problems.iter().any(|p| matches!(p, Problem::MalformedBundle { path, .. } if path == "tile/entries/002.p/88")),
                        "{msg}"
                    );
                }
                "leaf hash 5 in a level-0 tile" => {
                    // The exported entry no longer matches, the level-1 hash of tile 0 no
                    // longer matches, and neither do the anchor and every checkpoint.
                    assert_eq!(r.bad_entries(), [5], "{msg}");
                    assert!(
                        r.problems.contains(&Problem::TileHashMismatch {
                            path: "tile/1/000.p/2".into(),
                            position: 0,
                            node: NodeId::new(8, 0)
                        }),
                        "{msg}"
                    );
                    assert!(
                        r.problems
                            .iter()
                            .any(|p| matches!(p, Problem::AnchorMismatch { size: 600, .. })),
                        "{msg}"
                    );
                    assert_eq!(
                        r.problems
                            .iter()
                            .filter(|p| matches!(p, Problem::CheckpointFileMismatch { .. }))
                            .count(),
                        4,
                        "{msg}"
                    );
                }
                "a level-1 tile" => {
                    assert_eq!(
                        r.problems,
                        [Problem::TileHashMismatch {
                            path: "tile/1/000.p/2".into(),
                            position: 1,
                            node: NodeId::new(8, 1)
                        }],
                        "{msg}"
                    );
                }
                "a checkpoint file" => {
                    assert_eq!(r.bad_files(), ["checkpoints/256"], "{msg}");
                    assert!(
                        matches!(&r.problems[..], [Problem::CheckpointFileInvalid { .. }]),
                        "{msg}"
                    );
                }
                "a forged checkpoint file" => {
                    assert!(
                        matches!(&r.problems[..], [Problem::CheckpointFileMismatch { path, size: 40, .. }] if path == "checkpoints/40"),
                        "{msg}"
                    );
                }
                "a deleted tile" => {
                    assert_eq!(
                        r.problems[0],
                        Problem::MissingFile {
                            path: "tile/0/001".into()
                        },
                        "{msg}"
                    );
                    // What depends on it is named as not checked, not as wrong.
                    assert!(
                        r.problems[1..]
                            .iter()
                            .all(|p| matches!(p, Problem::NotChecked { .. })),
                        "{msg}"
                    );
                    assert!(r.computed.is_none());
                }
                "a truncated tile" => {
                    assert_eq!(
                        r.problems[0],
                        Problem::TruncatedFile {
                            path: "tile/0/002.p/88".into(),
                            len: 88 * 32 - 1,
                            expected: 88 * 32
                        },
                        "{msg}"
                    );
                }
                "an extra tile" => {
                    assert_eq!(
                        r.problems,
                        [Problem::UnexpectedFile {
                            path: "tile/0/003.p/1".into()
                        }],
                        "{msg}"
                    );
                }
                "the anchor" => {
                    assert!(
                        matches!(&r.problems[..], [Problem::AnchorInvalid { .. }]),
                        "{msg}"
                    );
                }
                "an anchor claiming a huge log" => {
                    assert!(
                        matches!(&r.problems[..], [Problem::NotChecked { what, .. }] if what == "the tree"),
                        "{msg}"
                    );
                }
                _ => unreachable!(),
            }
        }

        // An export of a range holds only that range's bundles, starting at a bundle edge.
        let part = tmp.path().join("part");
        let s = export(&store, options(&part, 300, Some(520)))
            .await
            .unwrap();
        assert_eq!(s.entries, 256..520, "{b}");
        let bundles: Vec<String> = listing(&part)
            .into_iter()
            .filter(|f| f.starts_with("tile/entries/"))
            .collect();
        assert_eq!(bundles, ["tile/entries/001", "tile/entries/002.p/8"]);
        let r = verify_dir(&part, ORIGIN, &key).unwrap();
        assert!(r.is_ok(), "{b}: {:#?}", r.problems);
        assert_eq!((r.entries.clone(), r.entries_checked), (256..520, 264));
        std::fs::remove_file(part.join("tile/entries/001")).unwrap();
        let r = verify_dir(&part, ORIGIN, &key).unwrap();
        assert_eq!(
            r.problems,
            [Problem::MissingFile {
                path: "tile/entries/001".into()
            }],
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_refuses_what_it_cannot_do_cleanly() {
    for db in backends().await {
        let b = db.label;
        let empty = Store::open(&db.config).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        assert!(
            matches!(
                export(&empty, options(&out, 0, None)).await,
                Err(ExportError::NoCheckpoint)
            ),
            "{b}"
        );
        let (store, _) = tiled_log(&db, 100, &[]).await;
        let other = ledger::SignerKey::from_seed("aigov.local-test", [1; 32]).unwrap();
        let err = export(
            &store,
            ExportOptions {
                key: other.verifier(),
                ..options(&out, 0, None)
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ExportError::AnchorInvalid { .. }),
            "{b}: {err}"
        );
        let err = export(&store, options(&out, 60, Some(50)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::BadRange {
                    from: 60,
                    to: 50,
                    ..
                }
            ),
            "{b}: {err}"
        );
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep"), "x").unwrap();
        let err = export(&store, options(&out, 0, None)).await.unwrap_err();
        assert!(matches!(err, ExportError::NotEmpty(_)), "{b}: {err}");
        assert!(err.to_string().contains(&format!("`{}`", out.display())));
        // An empty directory is fine; `to` beyond the log is clamped.
        std::fs::remove_file(out.join("keep")).unwrap();
        let s = export(&store, options(&out, 0, Some(1000))).await.unwrap();
        assert_eq!(s.entries, 0..100, "{b}");
        assert_eq!(
            listing(tmp.path())
                .iter()
                .filter(|f| f.contains(".partial"))
                .count(),
            0
        );
        // Times resolve to indices (entry n is at 1_760_000_000_000_000 + n microseconds).
        let at = first_index_at(&store, 1_760_000_000_000_000 + 42, 100)
            .await
            .unwrap();
        assert_eq!(at, 42, "{b}");
        let end = first_index_at(&store, i64::MAX, 100).await.unwrap();
        assert_eq!(end, 100, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_checkpoints_are_proven_consistent_or_named_inconsistent() {
    let key = signer().verifier();
    for db in backends().await {
        let b = db.label;
        let (store, _) = tiled_log(&db, 700, &[40, 256, 513]).await;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("export");
        export(&store, options(&out, 0, Some(0))).await.unwrap();
        let cps = store.ledger_checkpoints().await.unwrap();
        let head = store.ledger_head().await.unwrap();

        for cp in &cps {
            for verdict in [
                check_consistency(&store, cp.note.as_bytes(), ORIGIN, &key)
                    .await
                    .unwrap(),
                check_consistency_dir(&out, cp.note.as_bytes(), ORIGIN, &key).unwrap(),
            ] {
                assert!(verdict.is_consistent(), "{b} size {}: {verdict}", cp.size);
                assert!(
                    verdict
                        .to_string()
                        .starts_with(&format!("(size {}) is consistent with size 700", cp.size)),
                    "{verdict}"
                );
            }
        }

        // A fork: the same key signed another tree of size 256.
        let fork = Checkpoint::new(
            ORIGIN,
            TreeHead {
                size: 256,
                root: Hash([9; 32]),
            },
        )
        .sign(&signer())
        .unwrap();
        let real_256 = {
            let mut mem = MemTree::new();
            for i in 0..256 {
                mem.push_entry(&entry(0, i).to_canonical_bytes().unwrap());
            }
            mem.root_at(256).unwrap()
        };
        for verdict in [
            check_consistency(&store, fork.as_bytes(), ORIGIN, &key)
                .await
                .unwrap(),
            check_consistency_dir(&out, fork.as_bytes(), ORIGIN, &key).unwrap(),
        ] {
            assert!(
                matches!(
                    &verdict,
                    Consistency::Inconsistent {
                        problem: Inconsistency::RootDiffers { computed },
                        ..
                    } if *computed == real_256
                ),
                "{b}: {verdict:?}"
            );
            assert!(verdict.to_string().contains("rewritten"), "{verdict}");
        }
        // A checkpoint from a longer log: entries were removed since.
        let longer = Checkpoint::new(
            ORIGIN,
            TreeHead {
                size: 800,
                root: head.root,
            },
        )
        .sign(&signer())
        .unwrap();
        let verdict = check_consistency_dir(&out, longer.as_bytes(), ORIGIN, &key).unwrap();
        assert!(
            matches!(
                verdict,
                Consistency::Inconsistent {
                    problem: Inconsistency::Shrunk,
                    ..
                }
            ),
            "{b}: {verdict:?}"
        );
        // Signed by someone else, or for another log.
        let other = ledger::SignerKey::from_seed("aigov.local-test", [3; 32]).unwrap();
        let stranger = Checkpoint::new(ORIGIN, head).sign(&other).unwrap();
        assert!(matches!(
            check_consistency(&store, stranger.as_bytes(), ORIGIN, &key)
                .await
                .unwrap(),
            Consistency::Invalid { .. }
        ));
        assert!(matches!(
            check_consistency_dir(&out, cps[0].note.as_bytes(), "aigov.local/other", &key).unwrap(),
            Consistency::Invalid { .. }
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_export_checks_level_one_and_two_tiles() {
    let key = signer().verifier();
    for db in backends().await {
        let b = db.label;
        let (store, _) = tiled_log(&db, 70_000, &[1000, 65_541]).await;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("export");
        let s = export(&store, options(&out, 69_900, None)).await.unwrap();
        // 273 full and one partial level-0 tile, a full and a partial level-1 tile, and a
        // partial level-2 tile (the spec's example for size 70,000).
        assert_eq!(s.tiles, 273 + 1 + 1 + 1 + 1, "{b}");
        assert_eq!(s.entries, 69_888..70_000, "{b}");
        let files = listing(&out);
        for f in [
            "tile/0/273.p/112",
            "tile/1/000",
            "tile/1/001.p/17",
            "tile/2/000.p/1",
        ] {
            assert!(files.iter().any(|x| x == f), "{b}: {f} missing");
        }
        let r = verify_dir(&out, ORIGIN, &key).unwrap();
        assert!(r.is_ok(), "{b}: {:#?}", r.problems);
        assert_eq!(r.checkpoints, 3, "{b}");

        for (path, offset, want) in [
            (
                "tile/1/000",
                100 * 32 + 3,
                Problem::TileHashMismatch {
                    path: "tile/1/000".into(),
                    position: 100,
                    node: NodeId::new(8, 100),
                },
            ),
            (
                "tile/1/001.p/17",
                16 * 32,
                Problem::TileHashMismatch {
                    path: "tile/1/001.p/17".into(),
                    position: 16,
                    node: NodeId::new(8, 272),
                },
            ),
            (
                "tile/2/000.p/1",
                0,
                Problem::TileHashMismatch {
                    path: "tile/2/000.p/1".into(),
                    position: 0,
                    node: NodeId::new(16, 0),
                },
            ),
        ] {
            let dir = tmp.path().join(path.replace('/', "_"));
            copy_dir(&out, &dir);
            flip_byte(&dir.join(path), offset);
            let r = verify_dir(&dir, ORIGIN, &key).unwrap();
            assert_eq!(r.problems, [want], "{b} {path}");
        }

        // Consistency proofs from tiles of several levels.
        for cp in store.ledger_checkpoints().await.unwrap() {
            let v = check_consistency_dir(&out, cp.note.as_bytes(), ORIGIN, &key).unwrap();
            assert!(v.is_consistent(), "{b}: {v}");
        }
    }
}
