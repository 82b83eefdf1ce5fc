//! The three load modes: `latency` (one request at a time), `throughput` (closed loop with C
//! connections, optionally searching for the best C under a p99 limit) and `streams` (C slow
//! streaming requests held open while the target process's memory is sampled).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http::{Conn, Request, Response};
use crate::stats::{Errors, Summary};

/// How many body bytes of a failed request are kept to show what went wrong.
const CAPTURE: usize = 300;

/// A connection that reconnects when the last answer closed it or a request failed.
struct Client {
    req: Arc<Request>,
    conn: Option<Conn>,
    /// The first failed request's cause and body, for the report.
    first_error: Option<String>,
}

impl Client {
    fn new(req: Arc<Request>) -> Client {
        Client {
            req,
            conn: None,
            first_error: None,
        }
    }

    /// One request. The time covers writing the request to reading the last body byte
    /// (not connecting). Err is the error's cause.
    async fn send(&mut self) -> (Duration, Result<Response, String>) {
        if self.conn.is_none() {
            match Conn::connect(self.req.target.addr).await {
                Ok(c) => self.conn = Some(c),
                Err(e) => return (Duration::ZERO, Err(format!("connect: {e}"))),
            }
        }
        let conn = self.conn.as_mut().expect("connected above");
        let t0 = Instant::now();
        let result = conn.request(&self.req.bytes, CAPTURE).await;
        let took = t0.elapsed();
        match result {
            Ok(r) => {
                if r.close {
                    self.conn = None;
                }
                if (200..300).contains(&r.status) {
                    (took, Ok(r))
                } else {
                    let cause = format!("status {}", r.status);
                    if self.first_error.is_none() {
                        self.first_error = Some(format!(
                            "{cause}: {}",
                            String::from_utf8_lossy(&r.body_prefix)
                        ));
                    }
                    (took, Err(cause))
                }
            }
            Err(e) => {
                self.conn = None;
                let cause = format!("io: {e}");
                if self.first_error.is_none() {
                    self.first_error = Some(cause.clone());
                }
                (took, Err(cause))
            }
        }
    }
}

/// `latency` mode's result.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub mode: &'static str,
    pub url: String,
    pub requests: usize,
    pub warmup: usize,
    pub errors: Errors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Successful requests to `url`, µs.
    pub latency_us: Summary,
    /// With a baseline: the baseline's latencies, measured alternately on its own connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_us: Option<Summary>,
    /// Target minus baseline, percentile by percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_us: Option<Summary>,
    /// Percentiles of each pair's difference (target request minus the baseline request sent
    /// just before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_diff_us: Option<Summary>,
}

/// One request at a time: `warmup` unrecorded, then `requests` recorded. With a baseline, each
/// target request is preceded by one to the baseline (on its own connection).
pub async fn latency(
    req: Arc<Request>,
    url: &str,
    baseline: Option<(Arc<Request>, String)>,
    warmup: usize,
    requests: usize,
) -> LatencyReport {
    let mut target = Client::new(req);
    let mut base = baseline.as_ref().map(|(r, _)| Client::new(r.clone()));
    let mut errors = Errors::default();
    let mut samples = Vec::with_capacity(requests);
    let mut base_samples = Vec::with_capacity(if base.is_some() { requests } else { 0 });
    let mut diffs = Vec::with_capacity(base_samples.capacity());
    for i in 0..warmup + requests {
        let recorded = i >= warmup;
        let mut base_took = None;
        if let Some(b) = base.as_mut() {
            match b.send().await {
                (took, Ok(_)) => base_took = Some(took),
                (_, Err(cause)) if recorded => errors.add(format!("baseline {cause}")),
                _ => {}
            }
        }
        match target.send().await {
            (took, Ok(_)) if recorded => {
                samples.push(took.as_nanos() as i64);
                if let Some(bt) = base_took {
                    base_samples.push(bt.as_nanos() as i64);
                    diffs.push(took.as_nanos() as i64 - bt.as_nanos() as i64);
                }
            }
            (_, Err(cause)) if recorded => errors.add(cause),
            _ => {}
        }
    }
    let latency_us = Summary::of_ns(&mut samples);
    let baseline_us = base.as_ref().map(|_| Summary::of_ns(&mut base_samples));
    let first_error = target
        .first_error
        .or_else(|| base.and_then(|b| b.first_error.map(|e| format!("baseline {e}"))));
    LatencyReport {
        mode: "latency",
        url: url.to_owned(),
        requests,
        warmup,
        errors,
        first_error,
        latency_us,
        baseline_url: baseline.map(|(_, u)| u),
        baseline_us,
        added_us: baseline_us.map(|b| latency_us.minus(&b)),
        paired_diff_us: baseline_us.map(|_| Summary::of_ns(&mut diffs)),
    }
}

/// One closed-loop run's result.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputStep {
    pub concurrency: usize,
    pub seconds: f64,
    pub ok: u64,
    pub requests_per_sec: f64,
    pub errors: Errors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub latency_us: Summary,
}

/// `concurrency` connections, each sending its next request as soon as the last answer is
/// read, for `warmup` (unrecorded) plus `duration`. Counts requests that started in the
/// measured window.
pub async fn throughput(
    req: Arc<Request>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> ThroughputStep {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + duration;
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let req = req.clone();
            tokio::spawn(async move {
                let mut client = Client::new(req);
                let mut samples = Vec::with_capacity(4096);
                let mut errors = Errors::default();
                loop {
                    let t0 = Instant::now();
                    if t0 >= until {
                        break;
                    }
                    let (took, result) = client.send().await;
                    let recorded = t0 >= from;
                    match result {
                        Ok(_) if recorded => samples.push(took.as_nanos() as i64),
                        Ok(_) => {}
                        Err(cause) => {
                            if recorded {
                                errors.add(cause);
                            }
                            if client.conn.is_none() {
                                // Refused or reset: do not spin.
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                }
                (samples, errors, client.first_error)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut errors = Errors::default();
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok((s, e, fe)) => {
                samples.extend(s);
                errors.merge(e);
                first_error = first_error.or(fe);
            }
            Err(e) => errors.add(format!("task: {e}")),
        }
    }
    let secs = duration.as_secs_f64();
    let ok = samples.len() as u64;
    ThroughputStep {
        concurrency,
        seconds: secs,
        ok,
        requests_per_sec: (ok as f64 / secs * 10.0).round() / 10.0,
        errors,
        first_error,
        latency_us: Summary::of_ns(&mut samples),
    }
}

/// `throughput` mode's result.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputReport {
    pub mode: &'static str,
    pub url: String,
    /// With `--max-p99-ms`: the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<f64>,
    pub steps: Vec<ThroughputStep>,
    /// The best step: the only one, or the highest throughput with p99 under the limit and no
    /// errors. None when no step qualified.
    pub best: Option<ThroughputStep>,
}

/// The concurrency levels a search tries, up to `max`.
pub fn search_levels(max: usize) -> Vec<usize> {
    let mut levels = vec![
        1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512,
    ];
    let mut next = 768;
    while next <= max {
        levels.push(next);
        next *= 2;
    }
    levels.retain(|&c| c <= max.max(1));
    levels
}

/// Whether a step qualifies under the limit.
pub fn qualifies(step: &ThroughputStep, max_p99_us: f64) -> bool {
    step.errors.total() == 0 && step.ok > 0 && step.latency_us.p99 < max_p99_us
}

/// Steps concurrency up; stops after two steps in a row over the limit or two in a row below
/// 90% of the best throughput so far. `on_step` sees each step as it finishes.
pub async fn search(
    req: Arc<Request>,
    max_p99_ms: f64,
    max_concurrency: usize,
    warmup: Duration,
    step: Duration,
    mut on_step: impl FnMut(&ThroughputStep),
) -> (Vec<ThroughputStep>, Option<ThroughputStep>) {
    let limit_us = max_p99_ms * 1000.0;
    let mut steps: Vec<ThroughputStep> = Vec::new();
    let mut best: Option<ThroughputStep> = None;
    let (mut over, mut worse) = (0, 0);
    for c in search_levels(max_concurrency) {
        let s = throughput(req.clone(), c, warmup, step).await;
        on_step(&s);
        let best_rps = best.as_ref().map_or(0.0, |b| b.requests_per_sec);
        if qualifies(&s, limit_us) {
            over = 0;
            if s.requests_per_sec > best_rps {
                best = Some(s.clone());
            }
        } else {
            over += 1;
        }
        worse = if s.requests_per_sec < 0.9 * best_rps {
            worse + 1
        } else {
            0
        };
        steps.push(s);
        if over >= 2 || worse >= 2 {
            break;
        }
    }
    (steps, best)
}

/// `streams` mode's result.
#[derive(Debug, Clone, Serialize)]
pub struct StreamsReport {
    pub mode: &'static str,
    pub url: String,
    pub concurrency: usize,
    /// Streams answered with 2xx (head read).
    pub opened: usize,
    /// The most streams open at the same time.
    pub max_open: usize,
    /// Streams that ended before the hold period was over.
    pub ended_early: usize,
    pub errors: Errors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Time until every stream was open (or had failed), ms.
    pub open_ms: u64,
    pub hold_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// The target process's memory (kB, from /proc/PID/status).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// VmRSS before the first stream.
    pub rss_before_kb: u64,
    /// The highest VmRSS sampled while streams were open.
    pub rss_peak_kb: u64,
    /// VmRSS once every stream was open.
    pub rss_all_open_kb: u64,
    /// VmHWM (the process's lifetime peak) at the end.
    pub hwm_kb: u64,
    /// VmRSS a second after the streams were closed.
    pub rss_after_kb: u64,
}

/// `(VmRSS, VmHWM)` of `pid` in kB.
pub fn read_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// `(VmRSS, VmHWM)` in kB from the text of /proc/PID/status.
pub fn parse_status(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// What `streams` does.
#[derive(Debug, Clone, Copy)]
pub struct StreamsSpec {
    pub concurrency: usize,
    /// How long to hold the streams once all are open.
    pub hold: Duration,
    /// The longest to wait for all streams to open.
    pub open_timeout: Duration,
    /// Read at most this many bytes…
    pub read_chunk: usize,
    /// …after waiting this long.
    pub read_delay: Duration,
    /// The process whose memory is sampled.
    pub pid: Option<u32>,
}

enum StreamEnd {
    Failed(String, Option<String>),
    Ended,
    Held,
}

/// Opens `concurrency` streaming requests at once, reads them slowly (`read_chunk` bytes every
/// `read_delay`), holds them for `hold` after all are open, and samples `pid`'s memory every
/// 50 ms meanwhile. Then hangs up.
pub async fn streams(req: Arc<Request>, url: &str, spec: &StreamsSpec) -> StreamsReport {
    let StreamsSpec {
        concurrency,
        hold,
        open_timeout,
        read_chunk,
        read_delay,
        pid,
    } = *spec;
    let before = pid.and_then(read_memory);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let settled = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let max_open = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let req = req.clone();
            let mut stop = stop_rx.clone();
            let (settled, open, max_open) = (settled.clone(), open.clone(), max_open.clone());
            let opened = opened.clone();
            tokio::spawn(async move {
                let run = async {
                    let mut conn = Conn::connect(req.target.addr)
                        .await
                        .map_err(|e| (format!("connect: {e}"), None))?;
                    conn.send(&req.bytes)
                        .await
                        .map_err(|e| (format!("io: {e}"), None))?;
                    let (status, _, kind) = conn
                        .read_head()
                        .await
                        .map_err(|e| (format!("io: {e}"), None))?;
                    if !(200..300).contains(&status) {
                        let mut body = Vec::new();
                        let _ = conn.read_body(kind, CAPTURE, &mut body).await;
                        let text = String::from_utf8_lossy(&body).into_owned();
                        return Err((format!("status {status}"), Some(text)));
                    }
                    opened.fetch_add(1, Ordering::SeqCst);
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    max_open.fetch_max(now, Ordering::SeqCst);
                    settled.fetch_add(1, Ordering::SeqCst);
                    conn.throttle(read_chunk, read_delay);
                    let mut sink = Vec::new();
                    let r = conn.read_body(kind, 0, &mut sink).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                    Ok(match r {
                        Ok(_) => StreamEnd::Ended,
                        Err(e) => StreamEnd::Failed(format!("io (mid-stream): {e}"), None),
                    })
                };
                tokio::select! {
                    r = run => match r {
                        Ok(end) => end,
                        Err((cause, body)) => {
                            // Failed before it opened.
                            settled.fetch_add(1, Ordering::SeqCst);
                            StreamEnd::Failed(cause, body)
                        }
                    },
                    _ = stop.wait_for(|s| *s) => StreamEnd::Held,
                }
            })
        })
        .collect();

    let mut peak = before.map_or(0, |m| m.0);
    let sample = |peak: &mut u64| {
        if let Some((rss, _)) = pid.and_then(read_memory) {
            *peak = (*peak).max(rss);
        }
    };
    // Wait until every stream is open or failed.
    while settled.load(Ordering::SeqCst) < concurrency && started.elapsed() < open_timeout {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sample(&mut peak);
    }
    let open_ms = started.elapsed().as_millis() as u64;
    let all_open = pid.and_then(read_memory).map_or(0, |m| m.0);
    let hold_until = Instant::now() + hold;
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sample(&mut peak);
    }
    let _ = stop_tx.send(true);
    let mut errors = Errors::default();
    let mut first_error = None;
    let mut ended_early = 0;
    for t in tasks {
        match t.await {
            Ok(StreamEnd::Held) => {}
            Ok(StreamEnd::Ended) => ended_early += 1,
            Ok(StreamEnd::Failed(cause, body)) => {
                if first_error.is_none() {
                    first_error = Some(match body {
                        Some(b) => format!("{cause}: {b}"),
                        None => cause.clone(),
                    });
                }
                errors.add(cause);
            }
            Err(e) => errors.add(format!("task: {e}")),
        }
    }
    sample(&mut peak);
    let hwm = pid.and_then(read_memory).map_or(0, |m| m.1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = pid.and_then(read_memory).map_or(0, |m| m.0);
    StreamsReport {
        mode: "streams",
        url: url.to_owned(),
        concurrency,
        opened: opened.load(Ordering::SeqCst),
        max_open: max_open.load(Ordering::SeqCst),
        ended_early,
        errors,
        first_error,
        open_ms,
        hold_secs: hold.as_secs_f64(),
        pid,
        memory: before.map(|(rss, _)| Memory {
            rss_before_kb: rss,
            rss_peak_kb: peak,
            rss_all_open_kb: all_open,
            hwm_kb: hwm,
            rss_after_kb: after,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_levels_grow_to_the_maximum() {
        assert_eq!(search_levels(1), vec![1]);
        assert_eq!(search_levels(10), vec![1, 2, 4, 8]);
        assert_eq!(search_levels(2000).last(), Some(&1536));
    }

    #[test]
    fn parses_proc_status() {
        let status = "Name:\taigov\nVmHWM:\t   51234 kB\nVmRSS:\t   40960 kB\nThreads:\t3\n";
        assert_eq!(parse_status(status), Some((40960, 51234)));
        assert_eq!(parse_status("Name:\tx\n"), None);
        let me = read_memory(std::process::id()).expect("own /proc status");
        assert!(me.0 > 0 && me.1 >= me.0);
    }

    #[test]
    fn qualifying_steps() {
        let mut samples: Vec<i64> = (1..=100).map(|i| i * 100_000).collect();
        let mut step = ThroughputStep {
            concurrency: 4,
            seconds: 1.0,
            ok: 100,
            requests_per_sec: 100.0,
            errors: Errors::default(),
            first_error: None,
            latency_us: Summary::of_ns(&mut samples),
        };
        // p99 = 9.9 ms
        assert!(qualifies(&step, 10_000.0));
        assert!(!qualifies(&step, 9_900.0));
        step.errors.add("status 500");
        assert!(!qualifies(&step, 10_000.0));
    }
}
