//! Decision latency of the gateway decision point with 10, 100 and 1,000 policies over an
//! inventory of about 10,000 entities: percentiles for the sliced engine and, as the baseline
//! measured in the same run, for Cedar evaluating the whole policy set; then criterion groups.
//!
//! Run: `cargo bench -p policy --bench decide`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use model::{Decision, DecisionRequest};
use policy::{Engine, synth};

const SIZES: [usize; 3] = [10, 100, 1000];
const SAMPLES: usize = 20_000;

struct Stats {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    mean: Duration,
}

fn measure(requests: &[DecisionRequest], f: impl Fn(&DecisionRequest) -> Decision) -> Stats {
    for r in requests.iter().take(2_000) {
        black_box(f(r)); // warm caches, including the slice cache
    }
    let mut times: Vec<Duration> = requests
        .iter()
        .map(|r| {
            let start = Instant::now();
            black_box(f(black_box(r)));
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        mean,
    }
}

fn us(d: Duration) -> String {
    format!("{:>8.2} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let inventory = synth::inventory();
    let mut rng = synth::Rng::new(42);
    let requests = synth::prompt_requests(&mut rng, SAMPLES);
    let engines: Vec<(usize, Engine)> = SIZES
        .iter()
        .map(|&n| {
            (
                n,
                Engine::build(&inventory, &synth::policies(n), &[])
                    .expect("synthetic bundle is valid"),
            )
        })
        .collect();

    println!("decision latency, SendPrompt, {SAMPLES} requests, ~10,000 entities (one core)");
    println!(
        "{:>9} {:>10} {:>11} {:>11} {:>11} {:>11}",
        "policies", "engine", "p50", "p99", "p99.9", "mean"
    );
    for (n, engine) in &engines {
        let sliced = measure(&requests, |r| engine.decide(r));
        let whole = measure(&requests, |r| engine.decide_unsliced(r));
        for (name, s) in [("sliced", &sliced), ("whole-set", &whole)] {
            println!(
                "{n:>9} {name:>10} {} {} {} {}",
                us(s.p50),
                us(s.p99),
                us(s.p999),
                us(s.mean)
            );
        }
        println!(
            "{n:>9} {:>10} p50 {:.1}x faster, p99 {:.1}x faster than whole-set evaluation",
            "ratio",
            whole.p50.as_secs_f64() / sliced.p50.as_secs_f64(),
            whole.p99.as_secs_f64() / sliced.p99.as_secs_f64()
        );
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("decide");
    for (n, engine) in &engines {
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("sliced", n), engine, |b, e| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                e.decide(&requests[i])
            })
        });
    }
    group.finish();
    c.final_summary();
}
