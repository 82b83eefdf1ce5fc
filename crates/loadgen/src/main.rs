//! `aigov-load`: the load tool's command line (modes `latency`, `throughput`, `streams`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use loadgen::http::{Request, Target};
use loadgen::run::{self, StreamsSpec, ThroughputReport, ThroughputStep};
use loadgen::stats::Summary;

/// HTTP/1.1 keep-alive load tool for the aigov gateway (or any HTTP server).
///
/// Non-2xx answers count as errors. The exit code is 1 when any counted request failed (or a
/// search found no concurrency under the limit), 2 when the tool itself failed.
#[derive(Parser, Debug)]
#[command(name = "aigov-load", version)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// One request at a time: `--requests` after `--warmup`; p50/p90/p99/p99.9/max in µs.
    Latency {
        #[command(flatten)]
        common: Common,
        /// Recorded requests.
        #[arg(short = 'n', long, default_value_t = 2000)]
        requests: usize,
        /// Unrecorded requests first.
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        /// Also send each request to this URL just before (on its own connection) and report
        /// the difference: the latency a gateway adds over calling its upstream directly.
        #[arg(long)]
        baseline_url: Option<String>,
        /// A header for the baseline requests (`name: value`; repeatable; default: --header's).
        #[arg(long = "baseline-header")]
        baseline_headers: Vec<String>,
    },
    /// C connections in a closed loop for D seconds: requests/s, p50/p99, errors. With
    /// `--max-p99-ms`, steps C up and reports the best throughput whose p99 stays under it.
    Throughput {
        #[command(flatten)]
        common: Common,
        /// Connections (each sends its next request when the last answer is read).
        #[arg(short = 'c', long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds (per step when searching).
        #[arg(short = 'd', long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each run.
        #[arg(long, default_value_t = 1.0)]
        warmup_secs: f64,
        /// Search: step concurrency up (1, 2, 4, 8, 12, 16, 24, …) and report the best
        /// throughput whose p99 is under this many milliseconds (and with no errors).
        #[arg(long)]
        max_p99_ms: Option<f64>,
        /// The highest concurrency a search tries.
        #[arg(long, default_value_t = 1024)]
        max_concurrency: usize,
    },
    /// Opens C streaming requests at once, reads them slowly and holds them open while sampling
    /// `--pid`'s memory (VmRSS, VmHWM from /proc/PID/status); reports the peak.
    Streams {
        #[command(flatten)]
        common: Common,
        /// Streams open at the same time.
        #[arg(short = 'c', long, default_value_t = 1000)]
        concurrency: usize,
        /// Seconds to hold them once all are open.
        #[arg(long, default_value_t = 10.0)]
        hold_secs: f64,
        /// Process to sample (the server).
        #[arg(long)]
        pid: Option<u32>,
        /// Wait this long before each read…
        #[arg(long, default_value_t = 100)]
        read_delay_ms: u64,
        /// …of at most this many bytes.
        #[arg(long, default_value_t = 256)]
        read_chunk: usize,
        /// Longest wait for all streams to open, seconds.
        #[arg(long, default_value_t = 30.0)]
        open_timeout_secs: f64,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// `http://host:port/path`.
    #[arg(long)]
    url: String,
    #[arg(short = 'X', long, default_value = "POST")]
    method: String,
    /// A request header, `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Send this file as the body.
    #[arg(long, conflicts_with = "body_kb")]
    body_file: Option<PathBuf>,
    /// Send a generated OpenAI chat completion whose prompt is this many KB (default for POST
    /// without --body-file: a one-line prompt).
    #[arg(long)]
    body_kb: Option<f64>,
    /// The model of the generated body.
    #[arg(long, default_value = "local-coder")]
    model: String,
    /// Ask for a stream in the generated body (`"stream": true`; always on in `streams`).
    #[arg(long)]
    stream: bool,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Client threads (1 keeps the tool's share of a small machine low).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("aigov-load: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A chat completion whose prompt is `kb` KB of ordinary text (no secrets, no personal data).
pub fn generated_body(model: &str, kb: Option<f64>, stream: bool) -> Vec<u8> {
    let prompt = match kb {
        Some(kb) => {
            let len = (kb * 1024.0).round() as usize;
            let line =
                "Please review this function and explain how the retry loop handles errors.\n";
            line.repeat(len / line.len() + 1)[..len].to_owned()
        }
        None => "Explain what this function does.".to_owned(),
    };
    let mut body = serde_json::json!({
        "model": model,
        "messages": [{ "role": "user", "content": prompt }],
    });
    if stream {
        body["stream"] = true.into();
    }
    serde_json::to_vec(&body).expect("JSON")
}

fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("header `{h}`: expected `name: value`"))?;
            if name.trim().is_empty() {
                bail!("header `{h}`: empty name");
            }
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn build(common: &Common, url: &str, headers: &[String], stream: bool) -> Result<Arc<Request>> {
    let target = Target::parse(url)?;
    let body = match (&common.body_file, common.method.as_str()) {
        (Some(path), _) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        (None, "POST" | "PUT" | "PATCH") => {
            generated_body(&common.model, common.body_kb, stream || common.stream)
        }
        (None, _) => Vec::new(),
    };
    Ok(Arc::new(Request::new(
        &common.method,
        target,
        &parse_headers(headers)?,
        &body,
    )))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    Ok(rt)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn emit<T: Serialize>(format: Format, report: &T, human: impl FnOnce(&T)) {
    match format {
        Format::Json => println!("{}", serde_json::to_string(report).expect("JSON")),
        Format::Human => human(report),
    }
}

fn run(cli: Cli) -> Result<bool> {
    match cli.mode {
        Mode::Latency {
            common,
            requests,
            warmup,
            baseline_url,
            baseline_headers,
        } => {
            let req = build(&common, &common.url, &common.headers, false)?;
            let baseline = match &baseline_url {
                Some(u) => {
                    let h = if baseline_headers.is_empty() {
                        &common.headers
                    } else {
                        &baseline_headers
                    };
                    Some((build(&common, u, h, false)?, u.clone()))
                }
                None => None,
            };
            let report = runtime(common.threads)?.block_on(run::latency(
                req,
                &common.url,
                baseline,
                warmup,
                requests,
            ));
            emit(common.format, &report, |r| {
                println!(
                    "latency  {} {}  {} requests after {} warm-up, one at a time",
                    common.method, r.url, r.requests, r.warmup
                );
                println!("errors   {}", r.errors.describe());
                if let Some(e) = &r.first_error {
                    println!("first    {e}");
                }
                print_summaries(&[
                    ("target", Some(r.latency_us)),
                    ("baseline", r.baseline_us),
                    ("added", r.added_us),
                    ("pair diff", r.paired_diff_us),
                ]);
            });
            Ok(report.errors.total() == 0)
        }
        Mode::Throughput {
            common,
            concurrency,
            duration,
            warmup_secs,
            max_p99_ms,
            max_concurrency,
        } => {
            let req = build(&common, &common.url, &common.headers, false)?;
            let rt = runtime(common.threads)?;
            let human = common.format == Format::Human;
            let report = match max_p99_ms {
                Some(limit) => {
                    let (steps, best) = rt.block_on(run::search(
                        req,
                        limit,
                        max_concurrency,
                        secs(warmup_secs),
                        secs(duration),
                        |s| {
                            if human {
                                print_step(s);
                            } else {
                                eprintln!(
                                    "aigov-load: c={} {:.0} req/s p99 {:.0} µs errors {}",
                                    s.concurrency,
                                    s.requests_per_sec,
                                    s.latency_us.p99,
                                    s.errors.total()
                                );
                            }
                        },
                    ));
                    ThroughputReport {
                        mode: "throughput",
                        url: common.url.clone(),
                        max_p99_ms: Some(limit),
                        steps,
                        best,
                    }
                }
                None => {
                    let step = rt.block_on(run::throughput(
                        req,
                        concurrency,
                        secs(warmup_secs),
                        secs(duration),
                    ));
                    if human {
                        print_step(&step);
                    }
                    ThroughputReport {
                        mode: "throughput",
                        url: common.url.clone(),
                        max_p99_ms: None,
                        best: Some(step.clone()).filter(|s| s.errors.total() == 0),
                        steps: vec![step],
                    }
                }
            };
            emit(common.format, &report, |r| {
                match (&r.best, r.max_p99_ms) {
                    (Some(b), Some(limit)) => println!(
                        "best under p99 {limit} ms: {:.0} req/s at {} connections (p50 {:.0} µs, p99 {:.0} µs)",
                        b.requests_per_sec, b.concurrency, b.latency_us.p50, b.latency_us.p99
                    ),
                    (None, Some(limit)) => {
                        println!("no concurrency kept p99 under {limit} ms without errors")
                    }
                    _ => {}
                }
                for s in &r.steps {
                    if let Some(e) = &s.first_error {
                        println!("first error at c={}: {e}", s.concurrency);
                        break;
                    }
                }
            });
            Ok(report.best.is_some()
                && (max_p99_ms.is_some() || report.steps[0].errors.total() == 0))
        }
        Mode::Streams {
            common,
            concurrency,
            hold_secs,
            pid,
            read_delay_ms,
            read_chunk,
            open_timeout_secs,
        } => {
            let req = build(&common, &common.url, &common.headers, true)?;
            let spec = StreamsSpec {
                concurrency,
                hold: secs(hold_secs),
                open_timeout: secs(open_timeout_secs),
                read_chunk,
                read_delay: Duration::from_millis(read_delay_ms),
                pid,
            };
            let report = runtime(common.threads)?.block_on(run::streams(req, &common.url, &spec));
            emit(common.format, &report, |r| {
                println!(
                    "streams  {} {}  {} at once, held {:.0} s",
                    common.method, r.url, r.concurrency, r.hold_secs
                );
                println!(
                    "opened   {} (max open together {}, ended before the hold was over {}) in {} ms",
                    r.opened, r.max_open, r.ended_early, r.open_ms
                );
                println!("errors   {}", r.errors.describe());
                if let Some(e) = &r.first_error {
                    println!("first    {e}");
                }
                if let Some(m) = &r.memory {
                    let mb = |kb: u64| kb as f64 / 1024.0;
                    println!(
                        "memory of pid {}: VmRSS before {:.1} MB, all open {:.1} MB, peak {:.1} MB, after {:.1} MB; VmHWM {:.1} MB",
                        r.pid.unwrap_or(0),
                        mb(m.rss_before_kb),
                        mb(m.rss_all_open_kb),
                        mb(m.rss_peak_kb),
                        mb(m.rss_after_kb),
                        mb(m.hwm_kb)
                    );
                }
            });
            Ok(report.errors.total() == 0)
        }
    }
}

fn print_summaries(rows: &[(&str, Option<Summary>)]) {
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   (µs)",
        "", "p50", "p90", "p99", "p99.9", "max", "mean", "count"
    );
    for (name, s) in rows {
        if let Some(s) = s {
            println!(
                "{name:<10} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9}",
                s.p50, s.p90, s.p99, s.p999, s.max, s.mean, s.count
            );
        }
    }
}

fn print_step(s: &ThroughputStep) {
    println!(
        "c={:<5} {:>10.0} req/s   p50 {:>8.0} µs   p99 {:>8.0} µs   max {:>8.0} µs   errors {}",
        s.concurrency,
        s.requests_per_sec,
        s.latency_us.p50,
        s.latency_us.p99,
        s.latency_us.max,
        s.errors.describe()
    );
}
