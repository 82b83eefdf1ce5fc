//! Scanner throughput on real source code: the Rust and Python sources on this machine
//! (cargo's registry, Python's standard library), about 64 MB, one core.
//!
//! Run: `cargo bench -p scanner --bench scan`

use std::path::Path;
use std::time::Instant;

use scanner::Scanner;

fn collect(dir: &Path, ext: &str, limit: usize, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= limit {
            return;
        }
        if p.is_dir() {
            collect(&p, ext, limit, out);
        } else if p.extension().is_some_and(|e| e == ext)
            && let Ok(bytes) = std::fs::read(&p)
        {
            out.extend_from_slice(&bytes);
            out.push(b'\n');
        }
    }
}

fn main() {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut corpus = Vec::new();
    collect(
        &Path::new(&home).join(".cargo/registry/src"),
        "rs",
        32 << 20,
        &mut corpus,
    );
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rust_len = corpus.len();
    collect(Path::new(&python), "py", rust_len + (32 << 20), &mut corpus);
    let mb = corpus.len() as f64 / 1e6;
    println!(
        "corpus: {:.1} MB ({:.1} MB Rust, {:.1} MB Python)",
        mb,
        rust_len as f64 / 1e6,
        (corpus.len() - rust_len) as f64 / 1e6
    );
    let s = Scanner::builtin();
    for (name, f) in [
        (
            "secrets",
            &(|t: &[u8]| s.scan_secrets(t).len()) as &dyn Fn(&[u8]) -> usize,
        ),
        ("pii", &|t: &[u8]| s.scan_pii(t).len()),
        ("secrets+pii", &|t: &[u8]| s.scan(t).len()),
    ] {
        let mut best = f64::MAX;
        let mut found = 0;
        for _ in 0..3 {
            let start = Instant::now();
            found = f(&corpus);
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{name:>12}: {:>7.1} MB/s per core ({found} findings, best of 3)",
            mb / best
        );
    }
    // Baseline, same run: the naive engine — every rule's regex (Unicode off) over the whole
    // text, no keyword windows — on a slice, for a ratio that survives a noisy machine.
    let slice = &corpus[..(8 << 20).min(corpus.len())];
    let naive: Vec<regex::bytes::Regex> = scanner::BUILTIN
        .iter()
        .map(|r| regex::bytes::Regex::new(&format!("(?-u){}", r.regex)).expect("valid"))
        .collect();
    let mut naive_best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let n: usize = naive.iter().map(|r| r.find_iter(slice).count()).sum();
        std::hint::black_box(n);
        naive_best = naive_best.min(start.elapsed().as_secs_f64());
    }
    let mut ours_best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(s.scan_secrets(slice));
        ours_best = ours_best.min(start.elapsed().as_secs_f64());
    }
    let slice_mb = slice.len() as f64 / 1e6;
    println!(
        "baseline (same run, {:.1} MB): naive per-rule regexes {:.1} MB/s, aigov secrets {:.1} MB/s: {:.1}x",
        slice_mb,
        slice_mb / naive_best,
        slice_mb / ours_best,
        naive_best / ours_best
    );
    let prompt = &corpus[..200_000.min(corpus.len())];
    let start = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(s.scan(prompt));
    }
    println!(
        "200 KB prompt, secrets+pii: {:.0} µs",
        start.elapsed().as_secs_f64() * 1e6 / 100.0
    );
}
