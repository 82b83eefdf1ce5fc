//! `aigov-standin`: serves the OpenAI/Anthropic stand-in on a loopback address.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// A local stand-in for the OpenAI and Anthropic APIs (for tests and load runs).
///
/// Prints `listening on http://ADDR` as the first line on stdout, then serves until
/// interrupted (SIGINT/SIGTERM).
#[derive(Parser, Debug)]
#[command(name = "aigov-standin", version)]
struct Cli {
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Key OpenAI routes require (`Authorization: Bearer KEY`).
    #[arg(long, env = "STANDIN_OPENAI_KEY", hide_env_values = true)]
    openai_key: String,
    /// Key Anthropic routes require (`x-api-key: KEY`).
    #[arg(long, env = "STANDIN_ANTHROPIC_KEY", hide_env_values = true)]
    anthropic_key: String,
    /// Log nothing per request (the default).
    #[arg(long, conflicts_with = "verbose")]
    quiet: bool,
    /// Log one line per request on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Do not keep requests for `GET /_standin/requests`.
    #[arg(long)]
    no_record: bool,
    /// How many recorded requests to keep.
    #[arg(long, default_value_t = 10_000)]
    max_recorded: usize,
    /// Send each SSE stream in one write instead of one chunk per event.
    #[arg(long)]
    coalesce_sse: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() {
        eprintln!(
            "aigov-standin: --listen must be a loopback address (127.0.0.1 or ::1), not {}",
            cli.listen.ip()
        );
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("aigov-standin: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("aigov-standin: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    let mut options = standin::Options::new(cli.openai_key, cli.anthropic_key);
    options.quiet = !cli.verbose;
    options.record = !cli.no_record;
    options.max_recorded = cli.max_recorded;
    options.coalesce_sse = cli.coalesce_sse;
    match standin::serve_with_shutdown(listener, options, stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aigov-standin: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
