//! `aigov-load` driven against a tiny local axum server: every mode runs, counts what it sent,
//! reports non-2xx answers as errors, and prints JSON that parses.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

/// Serves, on a thread of its own:
/// - `POST /ok`: a small JSON answer (counts requests);
/// - `POST /fail`: 503 with a JSON error;
/// - `POST /stream`: an SSE stream of 20 events, one every 100 ms (chunked).
fn server() -> (SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let state = hits.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route(
                    "/ok",
                    post(
                        |State(hits): State<Arc<AtomicU64>>, body: String| async move {
                            hits.fetch_add(1, Ordering::SeqCst);
                            assert!(body.contains("\"messages\""), "{body}");
                            ([("content-type", "application/json")], r#"{"ok":true}"#)
                        },
                    ),
                )
                .route(
                    "/fail",
                    post(|| async {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            r#"{"error":{"message":"overloaded"}}"#,
                        )
                    }),
                )
                .route("/stream", post(stream))
                .with_state(state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), hits)
}

async fn stream() -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        for i in 0..20 {
            if tx
                .send(Ok(format!("data: {{\"n\":{i}}}\n\n")))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    ([("content-type", "text/event-stream")], body).into_response()
}

fn load(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aigov-load"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run aigov-load");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code(), json, stderr)
}

#[test]
fn latency_counts_requests_and_reports_percentiles() {
    let (addr, hits) = server();
    let url = format!("http://{addr}/ok");
    let (code, r, stderr) = load(&[
        "latency",
        "--url",
        &url,
        "-n",
        "300",
        "--warmup",
        "20",
        "--body-kb",
        "10",
    ]);
    assert_eq!(code, Some(0), "{r}\n{stderr}");
    assert_eq!(r["mode"], "latency");
    assert_eq!(r["latency_us"]["count"], 300);
    assert_eq!(hits.load(Ordering::SeqCst), 320, "warm-up + recorded");
    let l = &r["latency_us"];
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(p("min") > 0.0 && p("p50") <= p("p90") && p("p90") <= p("p99"));
    assert!(p("p99") <= p("p999") && p("p999") <= p("max"), "{l}");
    assert_eq!(r["errors"], serde_json::json!({}));

    // Against itself as the baseline: both measured, the difference reported.
    let (code, r, _) = load(&[
        "latency",
        "--url",
        &url,
        "-n",
        "100",
        "--warmup",
        "10",
        "--baseline-url",
        &url,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(r["baseline_us"]["count"], 100);
    assert_eq!(r["paired_diff_us"]["count"], 100);
    assert!(r["added_us"]["p50"].is_number());
}

#[test]
fn non_2xx_answers_are_errors() {
    let (addr, _) = server();
    let (code, r, _) = load(&[
        "latency",
        "--url",
        &format!("http://{addr}/fail"),
        "-n",
        "50",
        "--warmup",
        "0",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(r["errors"]["status 503"], 50);
    assert_eq!(r["latency_us"]["count"], 0);
    assert!(
        r["first_error"].as_str().unwrap().contains("overloaded"),
        "{r}"
    );
}

#[test]
fn throughput_and_search() {
    let (addr, _) = server();
    let url = format!("http://{addr}/ok");
    let (code, r, _) = load(&[
        "throughput",
        "--url",
        &url,
        "-c",
        "4",
        "-d",
        "0.5",
        "--warmup-secs",
        "0.1",
    ]);
    assert_eq!(code, Some(0), "{r}");
    let best = &r["best"];
    assert_eq!(best["concurrency"], 4);
    assert!(best["requests_per_sec"].as_f64().unwrap() > 100.0, "{r}");
    let (code, r, _) = load(&[
        "throughput",
        "--url",
        &url,
        "-d",
        "0.2",
        "--warmup-secs",
        "0",
        "--max-p99-ms",
        "50",
        "--max-concurrency",
        "4",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["steps"].as_array().unwrap().len(), 3, "c = 1, 2, 4: {r}");
    assert!(r["best"]["requests_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn streams_are_held_open_and_memory_sampled() {
    let (addr, _) = server();
    let pid = std::process::id().to_string();
    let (code, r, stderr) = load(&[
        "streams",
        "--url",
        &format!("http://{addr}/stream"),
        "-c",
        "20",
        "--hold-secs",
        "0.5",
        "--pid",
        &pid,
    ]);
    assert_eq!(code, Some(0), "{r}\n{stderr}");
    assert_eq!(r["opened"], 20);
    assert_eq!(r["max_open"], 20);
    assert_eq!(r["ended_early"], 0, "a 2 s stream outlives a 0.5 s hold");
    let m = &r["memory"];
    assert!(m["rss_peak_kb"].as_u64().unwrap() > 0, "{r}");
    assert!(m["hwm_kb"].as_u64().unwrap() >= m["rss_before_kb"].as_u64().unwrap());
}
