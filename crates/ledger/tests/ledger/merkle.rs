//! Merkle tree tests: published vectors, every (index, size) and (old, new) pair up to 64
//! against the RFC reference definitions, tampering, stored hashes, appends, the streaming
//! verifier and tiles.

use std::cell::Cell;
use std::collections::BTreeMap;

use ledger::{
    CompactRange, Hash, HashReader, HeadProblem, LogVerifier, MemTree, MissingHash, NodeId,
    ProofError, ProofPlan, TileId, TreeHead, VerifyError, consistency_proof, empty_root,
    inclusion_proof, inclusion_proof_len, leaf_hash, stored_hash_count, tree_hash,
    verify_consistency, verify_inclusion,
};
use serde_json::Value;

use crate::common::{
    flip, hex_decode, leaves, mem_tree, mth, path, read_test_data, subproof, test_data,
};

fn ct_leaves() -> (Vec<Vec<u8>>, Vec<Hash>) {
    let v: Value = serde_json::from_str(&read_test_data("ct_tree.json")).unwrap();
    let leaves = v["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex_decode(l.as_str().unwrap()))
        .collect();
    let roots = v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Hash::from_hex(r.as_str().unwrap()).unwrap())
        .collect();
    (leaves, roots)
}

/// Every JSON vector under `test_data/<kind>/`.
fn vectors(kind: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(test_data(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            out.push((f.display().to_string(), v));
        }
    }
    out
}

/// Hashes of a vector field; `None` if any is not 32 bytes of base64 (such inputs cannot
/// even be expressed in this API, which is a rejection).
fn b64_hashes(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).ok())
            .collect(),
        other => panic!("unexpected proof {other}"),
    }
}

#[test]
fn ct_leaf_set_roots_match_published_vectors() {
    let (leaves, roots) = ct_leaves();
    let tree = mem_tree(&leaves);
    assert_eq!(
        tree.root().to_hex(),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    for (i, want) in roots.iter().enumerate() {
        let size = i as u64 + 1;
        assert_eq!(tree.root_at(size).unwrap(), *want, "root at size {size}");
        assert_eq!(mth(&leaves[..=i]), *want, "reference root at size {size}");
    }
    assert_eq!(
        tree.root_at(0).unwrap().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn published_inclusion_vectors() {
    let (leaves, _) = ct_leaves();
    let tree = mem_tree(&leaves);
    let all = vectors("inclusion");
    assert!(all.len() >= 10);
    for (name, v) in all {
        let index = v["leafIdx"].as_u64().unwrap();
        let size = v["treeSize"].as_u64().unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let root = Hash::from_base64(v["root"].as_str().unwrap()).ok();
        let leaf = Hash::from_base64(v["leafHash"].as_str().unwrap()).ok();
        let proof = b64_hashes(&v["proof"]);
        let result = match (root, leaf, &proof) {
            (Some(root), Some(leaf), Some(proof)) => {
                verify_inclusion(&leaf, index, size, proof, &root)
            }
            _ => Err(VerifyError::ProofLength { got: 0, want: 0 }),
        };
        assert_eq!(result.is_err(), want_err, "{name}: {result:?}");
        if !want_err {
            assert_eq!(
                tree.inclusion_proof(index, size).unwrap(),
                proof.unwrap(),
                "{name}: generated proof"
            );
            assert_eq!(
                leaf.unwrap(),
                leaf_hash(&leaves[index as usize]),
                "{name}: leaf"
            );
        }
    }
}

#[test]
fn published_consistency_vectors() {
    let (leaves, _) = ct_leaves();
    let tree = mem_tree(&leaves);
    let all = vectors("consistency");
    assert!(all.len() >= 9);
    for (name, v) in all {
        let old = v["size1"].as_u64().unwrap();
        let new = v["size2"].as_u64().unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let root1 = Hash::from_base64(v["root1"].as_str().unwrap()).ok();
        let root2 = Hash::from_base64(v["root2"].as_str().unwrap()).ok();
        let proof = b64_hashes(&v["proof"]);
        let result = match (root1, root2, &proof) {
            (Some(r1), Some(r2), Some(proof)) => verify_consistency(old, new, &r1, &r2, proof),
            _ => Err(VerifyError::ProofLength { got: 0, want: 0 }),
        };
        assert_eq!(result.is_err(), want_err, "{name}: {result:?}");
        if !want_err {
            assert_eq!(
                tree.consistency_proof(old, new).unwrap(),
                proof.unwrap(),
                "{name}: generated proof"
            );
        }
    }
}

#[test]
fn inclusion_proofs_for_every_pair_up_to_64() {
    let data = leaves(64);
    let tree = mem_tree(&data);
    for size in 1..=64usize {
        let root = mth(&data[..size]);
        assert_eq!(tree.root_at(size as u64).unwrap(), root);
        for index in 0..size {
            let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
            assert_eq!(proof, path(index, &data[..size]), "PATH({index}, {size})");
            assert_eq!(proof.len(), inclusion_proof_len(index as u64, size as u64));
            let leaf = leaf_hash(&data[index]);
            verify_inclusion(&leaf, index as u64, size as u64, &proof, &root)
                .unwrap_or_else(|e| panic!("({index}, {size}): {e}"));
        }
    }
}

#[test]
fn consistency_proofs_for_every_pair_up_to_64() {
    let data = leaves(64);
    let tree = mem_tree(&data);
    let roots: Vec<Hash> = (0..=64).map(|n| mth(&data[..n])).collect();
    for new in 0..=64usize {
        for old in 0..=new {
            let proof = tree.consistency_proof(old as u64, new as u64).unwrap();
            let want = if old == 0 {
                Vec::new()
            } else {
                subproof(old, &data[..new], true)
            };
            assert_eq!(proof, want, "PROOF({old}, {new})");
            verify_consistency(old as u64, new as u64, &roots[old], &roots[new], &proof)
                .unwrap_or_else(|e| panic!("({old}, {new}): {e}"));
        }
    }
}

/// Tree sizes are not probed: a proof checked against a size whose path has the same shape
/// yields the same root, so size is bound by the signed checkpoint, not by the proof. The
/// published vectors include specific wrong-size cases.
#[test]
fn tampered_inclusion_proofs_fail() {
    let data = leaves(33);
    let tree = mem_tree(&data);
    for size in 1..=33u64 {
        let root = tree.root_at(size).unwrap();
        for index in 0..size {
            let leaf = leaf_hash(&data[index as usize]);
            let proof = tree.inclusion_proof(index, size).unwrap();
            let fails = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
                assert!(
                    verify_inclusion(leaf, index, size, proof, root).is_err(),
                    "tampered proof verified: index {index} size {size}"
                );
            };
            for byte in 0..32 {
                let bit = (byte % 8) as u8;
                fails(&flip(&leaf, byte, bit), index, size, &proof, &root);
                fails(&leaf, index, size, &proof, &flip(&root, byte, bit));
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i] = flip(&p[i], byte, bit);
                    fails(&leaf, index, size, &p, &root);
                }
            }
            for other in (0..size).filter(|&o| o != index) {
                fails(&leaf, other, size, &proof, &root);
            }
            let mut longer = proof.clone();
            longer.push(root);
            fails(&leaf, index, size, &longer, &root);
            let mut prefixed = vec![leaf];
            prefixed.extend_from_slice(&proof);
            fails(&leaf, index, size, &prefixed, &root);
            if let Some((_, shorter)) = proof.split_last() {
                fails(&leaf, index, size, shorter, &root);
            }
        }
    }
}

#[test]
fn tampered_consistency_proofs_fail() {
    let data = leaves(33);
    let tree = mem_tree(&data);
    let roots: Vec<Hash> = (0..=33).map(|n| tree.root_at(n).unwrap()).collect();
    for new in 1..=33u64 {
        for old in 1..new {
            let (r1, r2) = (roots[old as usize], roots[new as usize]);
            let proof = tree.consistency_proof(old, new).unwrap();
            let fails = |old: u64, new: u64, r1: &Hash, r2: &Hash, proof: &[Hash]| {
                assert!(
                    verify_consistency(old, new, r1, r2, proof).is_err(),
                    "tampered proof verified: {old} -> {new}"
                );
            };
            for byte in 0..32 {
                let bit = (byte % 8) as u8;
                fails(old, new, &flip(&r1, byte, bit), &r2, &proof);
                fails(old, new, &r1, &flip(&r2, byte, bit), &proof);
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i] = flip(&p[i], byte, bit);
                    fails(old, new, &r1, &r2, &p);
                }
            }
            fails(old, new, &r2, &r1, &proof);
            fails(old, new, &r1, &r2, &[]);
            fails(old, new, &r1, &r2, &proof[..proof.len() - 1]);
            let mut longer = proof.clone();
            longer.push(r2);
            fails(old, new, &r1, &r2, &longer);
            let mut prefixed = vec![proof[0]];
            prefixed.extend_from_slice(&proof);
            fails(old, new, &r1, &r2, &prefixed);
        }
    }
}

#[test]
fn tampering_any_leaf_changes_the_root_and_breaks_its_proof() {
    let data = leaves(21);
    let tree = mem_tree(&data);
    let head = tree.head();
    for j in 0..data.len() {
        let mut tampered = data.clone();
        tampered[j].push(b'!');
        assert_ne!(mth(&tampered), head.root, "leaf {j}");
        let proof = tree.inclusion_proof(j as u64, head.size).unwrap();
        let leaf = leaf_hash(&tampered[j]);
        assert!(verify_inclusion(&leaf, j as u64, head.size, &proof, &head.root).is_err());

        let mut v = LogVerifier::new([head]);
        for e in &tampered {
            v.push_entry(e);
        }
        let err = v.finish().unwrap_err();
        assert!(matches!(
            err.problems[0],
            HeadProblem::RootMismatch { size: 21, .. }
        ));
    }
}

#[test]
fn degenerate_verification_cases() {
    let tree = mem_tree(&leaves(4));
    let (r0, r4) = (tree.root_at(0).unwrap(), tree.root_at(4).unwrap());
    assert_eq!(r0, empty_root());
    verify_consistency(0, 0, &r0, &r0, &[]).unwrap();
    verify_consistency(0, 4, &r0, &r4, &[]).unwrap();
    verify_consistency(4, 4, &r4, &r4, &[]).unwrap();
    assert!(
        verify_consistency(0, 4, &r4, &r4, &[]).is_err(),
        "size 0 needs the empty root"
    );
    assert!(verify_consistency(4, 4, &r4, &r0, &[]).is_err());
    assert!(verify_consistency(4, 4, &r4, &r4, &[r4]).is_err());
    assert!(verify_consistency(0, 4, &r0, &r4, &[r4]).is_err());
    assert_eq!(
        verify_consistency(5, 4, &r4, &r4, &[]),
        Err(VerifyError::SizeOrder { old: 5, new: 4 })
    );
    let leaf = leaf_hash(b"leaf 0");
    assert_eq!(
        verify_inclusion(&leaf, 4, 4, &[], &r4),
        Err(VerifyError::IndexOutOfRange { index: 4, size: 4 })
    );
    assert!(verify_inclusion(&leaf, 0, 0, &[], &r0).is_err());
    assert!(verify_inclusion(&leaf, u64::MAX, u64::MAX, &[r4; 70], &r4).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &r4, &r4, &[r4; 70]).is_err());

    assert!(matches!(
        tree.inclusion_proof(4, 4),
        Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
    ));
    assert!(matches!(
        tree.consistency_proof(3, 2),
        Err(ProofError::SizeOrder { .. })
    ));
    assert!(matches!(
        tree.root_at(5),
        Err(ProofError::BeyondLog {
            size: 5,
            log_size: 4
        })
    ));
    assert!(matches!(
        inclusion_proof(&tree, 0, 9),
        Err(ProofError::Read(MissingHash(_)))
    ));
}

/// Counts `read_hashes` calls and nodes.
struct Counting<'a> {
    tree: &'a MemTree,
    calls: Cell<usize>,
    nodes: Cell<usize>,
}

impl HashReader for Counting<'_> {
    type Error = MissingHash;
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingHash> {
        self.calls.set(self.calls.get() + 1);
        self.nodes.set(self.nodes.get() + nodes.len());
        self.tree.read_hashes(nodes)
    }
}

#[test]
fn proofs_read_log_n_stored_hashes_in_one_call() {
    let mut tree = MemTree::with_capacity(100_003);
    for i in 0..100_003u64 {
        tree.push_leaf_hash(leaf_hash(&i.to_be_bytes()));
    }
    let r = Counting {
        tree: &tree,
        calls: Cell::new(0),
        nodes: Cell::new(0),
    };
    let log = 17; // ceil(log2(100_003))
    for (index, size) in [
        (0, 100_003),
        (99_999, 100_003),
        (12_345, 77_777),
        (65_535, 65_536),
    ] {
        r.calls.set(0);
        r.nodes.set(0);
        let proof = inclusion_proof(&r, index, size).unwrap();
        assert_eq!(r.calls.get(), 1);
        assert!(r.nodes.get() <= 2 * log, "{} nodes", r.nodes.get());
        verify_inclusion(
            &tree.stored_hash(NodeId::leaf(index)).unwrap(),
            index,
            size,
            &proof,
            &tree_hash(&r, size).unwrap(),
        )
        .unwrap();
    }
    for (old, new) in [(1, 100_003), (65_536, 100_003), (77_777, 99_999), (3, 5)] {
        r.calls.set(0);
        r.nodes.set(0);
        let proof = consistency_proof(&r, old, new).unwrap();
        assert_eq!(r.calls.get(), 1);
        assert!(r.nodes.get() <= 2 * log, "{} nodes", r.nodes.get());
        verify_consistency(
            old,
            new,
            &tree.root_at(old).unwrap(),
            &tree.root_at(new).unwrap(),
            &proof,
        )
        .unwrap();
    }
}

#[test]
fn stored_hash_index_round_trips_and_counts() {
    for i in 0..20_000u64 {
        let node = NodeId::from_stored_index(i);
        assert_eq!(node.stored_index(), i, "{node:?}");
    }
    // The dense order is exactly the order appends write hashes in.
    let mut edge = CompactRange::new();
    let mut next = 0u64;
    for i in 0..3000u64 {
        edge.append_with(leaf_hash(&i.to_be_bytes()), |s| {
            assert_eq!(s.node.stored_index(), next, "{:?}", s.node);
            next += 1;
        });
        assert_eq!(stored_hash_count(i + 1), next);
    }
    assert_eq!(stored_hash_count(0), 0);
    assert_eq!(NodeId::new(3, 2).leaves(), 16..24);
}

#[test]
fn batched_appends_match_the_mem_tree() {
    let n = 2_000u64;
    let hashes: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut tree = MemTree::new();
    for h in &hashes {
        tree.push_leaf_hash(*h);
    }

    let mut edge = CompactRange::new();
    let mut stored = BTreeMap::new();
    let mut start = 0usize;
    let mut batch = 1usize;
    while start < hashes.len() {
        let end = (start + batch).min(hashes.len());
        let appended = edge.append_batch(&hashes[start..end]);
        assert_eq!(
            edge.size(),
            start as u64,
            "append_batch leaves the old edge alone"
        );
        assert_eq!(
            appended.head,
            TreeHead {
                size: end as u64,
                root: tree.root_at(end as u64).unwrap()
            }
        );
        for s in &appended.stored {
            assert!(
                stored.insert(s.node, s.hash).is_none(),
                "{:?} stored twice",
                s.node
            );
        }
        // The store reloads the edge from what it persisted.
        let reloaded = CompactRange::load(&tree, end as u64).unwrap();
        assert_eq!(reloaded, appended.edge);
        assert_eq!(
            appended.edge.nodes(),
            CompactRange::nodes_for_size(end as u64)
        );
        edge = appended.edge;
        start = end;
        batch = batch * 3 % 97 + 1;
    }
    assert_eq!(stored.len() as u64, stored_hash_count(n));
    for (node, hash) in stored {
        assert_eq!(tree.stored_hash(node), Some(hash), "{node:?}");
    }
    assert!(CompactRange::from_hashes(3, vec![Hash::default()]).is_err());
    assert_eq!(CompactRange::new().root(), empty_root());
}

#[test]
fn log_verifier_checks_every_head_in_one_pass() {
    let data = leaves(64);
    let tree = mem_tree(&data);
    let heads: Vec<TreeHead> = (0..=64)
        .rev()
        .map(|n| TreeHead {
            size: n,
            root: tree.root_at(n).unwrap(),
        })
        .collect();
    let mut v = LogVerifier::new(heads.clone());
    for d in &data {
        v.push_entry(d);
    }
    assert_eq!(v.size(), 64);
    let report = v.finish().unwrap();
    assert_eq!(report.checked, 65);
    assert_eq!(report.head, tree.head());

    let mut bad = heads.clone();
    bad[10].root = flip(&bad[10].root, 0, 0); // size 54
    bad.push(TreeHead {
        size: 65,
        root: tree.root(),
    });
    let mut v = LogVerifier::new(bad);
    for d in &data {
        v.push_leaf_hash(leaf_hash(d));
    }
    let err = v.finish().unwrap_err();
    assert_eq!(err.checked, 66);
    assert_eq!(err.problems.len(), 2);
    assert!(matches!(
        err.problems[0],
        HeadProblem::RootMismatch { size: 54, .. }
    ));
    assert_eq!(
        err.problems[1],
        HeadProblem::BeyondEnd {
            size: 65,
            log_size: 64
        }
    );
    assert!(
        err.to_string()
            .starts_with("2 of 66 tree heads do not match the log; first: tree head at size 54")
    );

    let empty = LogVerifier::new([TreeHead {
        size: 0,
        root: Hash::default(),
    }]);
    assert!(empty.finish().is_err());
}

#[test]
fn tiles_follow_tlog_tiles() {
    assert_eq!(TileId::full(0, 1_234_067).path(), "tile/0/x001/x234/067");
    assert_eq!(TileId::full(2, 5).path(), "tile/2/005");
    assert_eq!(
        TileId {
            level: 1,
            index: 1000,
            width: 17
        }
        .path(),
        "tile/1/x001/000.p/17"
    );
    assert_eq!(
        TileId::partial_tiles(70_000),
        vec![
            TileId {
                level: 0,
                index: 273,
                width: 112
            },
            TileId {
                level: 1,
                index: 1,
                width: 17
            },
            TileId {
                level: 2,
                index: 0,
                width: 1
            },
        ]
    );
    assert_eq!(
        TileId::partial_tiles(256),
        vec![TileId {
            level: 1,
            index: 0,
            width: 1
        }]
    );
    assert!(TileId::partial_tiles(0).is_empty());
    let nodes: Vec<NodeId> = TileId::full(1, 2).nodes().collect();
    assert_eq!(nodes.len(), 256);
    assert_eq!(nodes[0], NodeId::new(8, 512));
    assert_eq!(nodes[255], NodeId::new(8, 767));

    // A level-1 tile hash is the root of the full level-0 tile below it.
    let mut tree = MemTree::new();
    for i in 0..512u64 {
        tree.push_leaf_hash(leaf_hash(&i.to_be_bytes()));
    }
    let tile0: Vec<Hash> = tree
        .read_hashes(&TileId::full(0, 1).nodes().collect::<Vec<_>>())
        .unwrap();
    let mut sub = MemTree::new();
    for h in tile0 {
        sub.push_leaf_hash(h);
    }
    assert_eq!(tree.stored_hash(NodeId::new(8, 1)), Some(sub.root()));
}

#[test]
fn proof_plans_let_a_store_fetch_the_hashes_itself() {
    let tree = mem_tree(&leaves(1000));
    let fetch = |plan: &ProofPlan| -> Vec<Hash> {
        plan.nodes()
            .iter()
            .map(|n| tree.stored_hash(*n).unwrap())
            .collect()
    };
    let plan = ProofPlan::inclusion(123, 999).unwrap();
    assert_eq!(
        plan.finish(&fetch(&plan)).unwrap(),
        tree.inclusion_proof(123, 999).unwrap()
    );
    let plan = ProofPlan::consistency(77, 999).unwrap();
    assert_eq!(
        plan.finish(&fetch(&plan)).unwrap(),
        tree.consistency_proof(77, 999).unwrap()
    );
    let plan = ProofPlan::tree_hash(999);
    assert_eq!(
        plan.finish(&fetch(&plan)).unwrap(),
        vec![tree.root_at(999).unwrap()]
    );
    let empty = ProofPlan::tree_hash(0);
    assert!(empty.nodes().is_empty());
    assert_eq!(empty.finish(&[]).unwrap(), vec![empty_root()]);
    assert!(
        ProofPlan::consistency(5, 5)
            .unwrap()
            .finish(&[])
            .unwrap()
            .is_empty()
    );

    let plan = ProofPlan::inclusion(0, 1000).unwrap();
    let mut short = fetch(&plan);
    short.pop();
    assert!(matches!(
        plan.finish(&short),
        Err(ProofError::ShortRead { .. })
    ));
    assert!(matches!(
        ProofPlan::inclusion(5, 5),
        Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
    ));
    assert!(matches!(
        ProofPlan::consistency(6, 5),
        Err(ProofError::SizeOrder { old: 6, new: 5 })
    ));
}
