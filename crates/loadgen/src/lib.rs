//! `aigov-load`: a small HTTP/1.1 load tool for the AI gateway — latency one request at a time
//! (optionally against a baseline), closed-loop throughput with a p99-bounded search, and
//! memory under many slow streams. See `docs/gateway.md` ("Measuring the gateway").

pub mod http;
pub mod run;
pub mod stats;
