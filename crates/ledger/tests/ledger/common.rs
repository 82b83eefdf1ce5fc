//! Shared test helpers: test data paths and a naive, recursive RFC 9162 reference
//! implementation (MTH, PATH, PROOF) written straight from the RFC's definitions.

use std::path::PathBuf;

use ledger::{Hash, MemTree, empty_root, leaf_hash, node_hash};

pub fn test_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(rel)
}

pub fn read_test_data(rel: &str) -> String {
    std::fs::read_to_string(test_data(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Largest power of two strictly below `n`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 MTH(D[n]).
pub fn mth(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 PATH(m, D[n]).
pub fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 9162 SUBPROOF(m, D[n], b).
pub fn subproof(m: usize, leaves: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// Leaf data `leaf 0`, `leaf 1`, ...
pub fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

pub fn mem_tree(leaves: &[Vec<u8>]) -> MemTree {
    let mut t = MemTree::new();
    for l in leaves {
        t.push_entry(l);
    }
    t
}

/// `h` with bit `bit` of byte `byte` flipped.
pub fn flip(h: &Hash, byte: usize, bit: u8) -> Hash {
    let mut b = h.0;
    b[byte] ^= 1 << bit;
    Hash(b)
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
