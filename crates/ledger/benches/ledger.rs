//! Ledger performance on this machine, one core: proof generation from a 10M-entry
//! [`MemTree`] (p50/p99 per proof), and streaming whole-log verification of 1M realistic
//! (~300 byte) entries including leaf hashing. Needs about 1.5 GB of memory.
//!
//! Run: `cargo bench -p ledger --bench ledger`
//! (`LEDGER_BENCH_TREE` and `LEDGER_BENCH_ENTRIES` override the sizes.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use ledger::{
    CompactRange, Decision, Entry, EntryKind, Hash, LogVerifier, MemTree, Origin, Outcome,
    Timestamp, TreeHead, leaf_hash, node_hash, sha256, verify_consistency, verify_inclusion,
};

/// xorshift64*: deterministic sampling without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints p50/p90/p99/p99.9/max of per-call latencies.
fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what:<44} n={:<7} p50 {:>6.2} µs  p90 {:>6.2} µs  p99 {:>6.2} µs  p99.9 {:>6.2} µs  max {:>7.2} µs",
        samples.len(),
        micros(at(0.50)),
        micros(at(0.90)),
        micros(at(0.99)),
        micros(at(0.999)),
        micros(*samples.last().unwrap()),
    );
}

fn hashing_baseline() {
    println!(
        "cpu sha extensions (SHA-NI): {}",
        if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
            detect_sha()
        } else {
            "n/a"
        }
    );
    let buf = vec![0x5au8; 64 << 20];
    let t = Instant::now();
    black_box(sha256(&buf));
    let e = t.elapsed();
    println!(
        "sha256 bulk:                                 {:>7.0} MB/s",
        buf.len() as f64 / e.as_secs_f64() / 1e6
    );
    let mut h = Hash::default();
    let n = 2_000_000;
    let t = Instant::now();
    for _ in 0..n {
        h = node_hash(&h, &h);
    }
    black_box(h);
    println!(
        "node hash (65 bytes):                        {:>7.0} ns each",
        t.elapsed().as_secs_f64() * 1e9 / f64::from(n)
    );
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn detect_sha() -> &'static str {
    if std::arch::is_x86_feature_detected!("sha") {
        "yes (sha2 0.10 selects it at run time)"
    } else {
        "no (software SHA-256)"
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn detect_sha() -> &'static str {
    "n/a"
}

fn proofs(size: u64) {
    let t = Instant::now();
    let mut tree = MemTree::with_capacity(size);
    for i in 0..size {
        tree.push_leaf_hash(leaf_hash(&i.to_le_bytes()));
    }
    let built = t.elapsed();
    println!(
        "build MemTree of {size} leaves:              {:>7.2} s ({:.0} leaves/s, {} MB of stored hashes)",
        built.as_secs_f64(),
        size as f64 / built.as_secs_f64(),
        ledger::stored_hash_count(size) * 32 / 1_000_000
    );
    let head = tree.head();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let samples = 200_000;

    // Warm up caches and branch predictors a little.
    for _ in 0..10_000 {
        black_box(tree.inclusion_proof(rng.below(size), size).unwrap());
    }

    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let index = rng.below(size);
        let t = Instant::now();
        let p = tree.inclusion_proof(index, size).unwrap();
        lat.push(t.elapsed());
        black_box(p);
    }
    report(&format!("inclusion proof, size {size}"), lat);

    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let s = 1 + rng.below(size);
        let index = rng.below(s);
        let t = Instant::now();
        let p = tree.inclusion_proof(index, s).unwrap();
        lat.push(t.elapsed());
        black_box(p);
    }
    report(&format!("inclusion proof, random size <= {size}"), lat);

    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let new = 2 + rng.below(size - 1);
        let old = 1 + rng.below(new - 1);
        let t = Instant::now();
        let p = tree.consistency_proof(old, new).unwrap();
        lat.push(t.elapsed());
        black_box(p);
    }
    report(
        &format!("consistency proof, random old < new <= {size}"),
        lat,
    );

    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let old = 1 + rng.below(size - 1);
        let t = Instant::now();
        let p = tree.consistency_proof(old, size).unwrap();
        lat.push(t.elapsed());
        black_box(p);
    }
    report(&format!("consistency proof, old -> {size}"), lat);

    // Verification cost and a correctness spot check.
    let checks = 20_000;
    let mut lat = Vec::with_capacity(checks);
    for _ in 0..checks {
        let index = rng.below(size);
        let proof = tree.inclusion_proof(index, size).unwrap();
        let leaf = leaf_hash(&index.to_le_bytes());
        let t = Instant::now();
        verify_inclusion(&leaf, index, size, &proof, &head.root).unwrap();
        lat.push(t.elapsed());
    }
    report("verify inclusion proof", lat);
    let mut lat = Vec::with_capacity(checks);
    for _ in 0..checks {
        let old = 1 + rng.below(size - 1);
        let proof = tree.consistency_proof(old, size).unwrap();
        let old_root = tree.root_at(old).unwrap();
        let t = Instant::now();
        verify_consistency(old, size, &old_root, &head.root, &proof).unwrap();
        lat.push(t.elapsed());
    }
    report("verify consistency proof", lat);
}

fn realistic_entry(i: u64) -> Entry {
    let kinds = [
        EntryKind::GatewayRequest,
        EntryKind::GatewayRequest,
        EntryKind::GatewayRequest,
        EntryKind::PolicyDecision,
        EntryKind::Review,
        EntryKind::Deployment,
    ];
    let kind = kinds[(i % kinds.len() as u64) as usize];
    let mut e = Entry::new(
        kind,
        Timestamp::from_unix_micros(1_750_000_000_000_000 + i as i64 * 17_351).unwrap(),
        format!("user:dev{}@example.com", i % 500),
        format!("repo:service-{}", i % 80),
        if i.is_multiple_of(17) {
            Outcome::Failure
        } else {
            Outcome::Success
        },
    )
    .with_origin(Origin {
        ip: Some(std::net::IpAddr::from([
            10,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
        ])),
        host: None,
        replica: Some(format!("aigov-{}", i % 3)),
    })
    .with_payload_sha256(sha256(&i.to_le_bytes()))
    .with_field(
        "request_id",
        format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    );
    if kind == EntryKind::PolicyDecision {
        e = e.with_decision(if i.is_multiple_of(5) {
            Decision::Deny
        } else {
            Decision::Allow
        });
    }
    e
}

/// The entries of a concatenation, given each one's end offset.
fn split<'a>(data: &'a [u8], ends: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut start = 0;
    ends.iter().map(move |&end| {
        let e = &data[start..end];
        start = end;
        e
    })
}

fn streaming(count: u64) {
    let t = Instant::now();
    let mut data = Vec::with_capacity(count as usize * 320);
    let mut ends = Vec::with_capacity(count as usize);
    for i in 0..count {
        data.extend_from_slice(&realistic_entry(i).to_canonical_bytes().unwrap());
        ends.push(data.len());
    }
    println!(
        "generate {count} entries:                     {:>7.2} s (mean {} bytes, {} MB)",
        t.elapsed().as_secs_f64(),
        data.len() as u64 / count,
        data.len() / 1_000_000
    );
    let entries = || split(&data, &ends);

    // The tree heads to check: a checkpoint every 1,000 entries (computed untimed).
    let mut edge = CompactRange::new();
    let mut heads = Vec::new();
    for e in entries() {
        edge.append(leaf_hash(e));
        if edge.size().is_multiple_of(1000) || edge.size() == count {
            heads.push(edge.head());
        }
    }
    let n_heads = heads.len();

    let t = Instant::now();
    let mut v = LogVerifier::new(heads);
    for e in entries() {
        v.push_entry(e);
    }
    let report = v.finish().unwrap();
    let e = t.elapsed();
    assert_eq!(report.checked, n_heads);
    println!(
        "stream-verify {count} entries + {n_heads} heads:  {:>7.3} s ({:.2} M entries/s, {:.0} MB/s)",
        e.as_secs_f64(),
        count as f64 / e.as_secs_f64() / 1e6,
        data.len() as f64 / e.as_secs_f64() / 1e6
    );

    let t = Instant::now();
    let mut v = LogVerifier::new(Vec::<TreeHead>::new());
    for e in entries() {
        let entry = Entry::from_canonical_bytes(e).unwrap();
        black_box(&entry);
        v.push_entry(e);
    }
    black_box(v.finish().unwrap());
    let e = t.elapsed();
    println!(
        "stream-verify + canonical decode of each:    {:>7.3} s ({:.2} M entries/s)",
        e.as_secs_f64(),
        count as f64 / e.as_secs_f64() / 1e6
    );
}

fn main() {
    let tree_size = env_size("LEDGER_BENCH_TREE", 10_000_000);
    let entries = env_size("LEDGER_BENCH_ENTRIES", 1_000_000);
    hashing_baseline();
    proofs(tree_size);
    streaming(entries);
}
