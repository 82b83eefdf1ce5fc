//! `cargo xtask bench-gateway`: the gateway's performance figures (issue 5) in one run — added
//! latency next to LiteLLM proxy and the Portkey gateway on the same stand-in upstream, aigov's
//! throughput under a p99 limit, and its memory with many open streams.
//!
//! Outside the network namespace it builds the binaries and installs the peers (these need the
//! package registries); then it re-runs itself under `unshare -n` with only loopback up (Portkey
//! listens on every interface) and measures there with `aigov-load`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{banner, cargo, root, status};

const LITELLM_VERSION: &str = "1.106.0";
const PORTKEY_VERSION: &str = "1.15.2";
const UPSTREAM_OPENAI_KEY: &str = "sk-bench-upstream";
const UPSTREAM_ANTHROPIC_KEY: &str = "sk-ant-bench-upstream";
const MODEL: &str = "local-coder";
/// Marks the re-run inside the network namespace.
const INSIDE: &str = "--inside-netns";
const SKIP_LITELLM: &str = "AIGOV_BENCH_SKIP_LITELLM";
const SKIP_PORTKEY: &str = "AIGOV_BENCH_SKIP_PORTKEY";

#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    peers: bool,
}

impl Plan {
    fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

pub fn bench_gateway(args: &[String]) -> Result<()> {
    let mut plan = Plan {
        quick: false,
        peers: true,
    };
    let mut inside = false;
    for a in args {
        match a.as_str() {
            "--quick" => plan.quick = true,
            "--no-peers" => plan.peers = false,
            INSIDE => inside = true,
            other => bail!("unknown argument `{other}` for `cargo xtask bench-gateway`"),
        }
    }
    if inside {
        measure(plan)
    } else {
        prepare_and_reexec(plan, args)
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

fn bench_dir() -> PathBuf {
    target_dir().join("bench-gateway")
}

fn bin(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

fn litellm_venv() -> PathBuf {
    bench_dir().join("litellm-venv")
}

fn portkey_dir() -> PathBuf {
    bench_dir().join("portkey")
}

fn portkey_server() -> PathBuf {
    portkey_dir().join("node_modules/@portkey-ai/gateway/build/start-server.js")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn prepare_and_reexec(plan: Plan, args: &[String]) -> Result<()> {
    if !cfg!(target_os = "linux") {
        bail!("bench-gateway needs Linux (network namespaces, /proc)");
    }
    banner("cargo build --release -p aigov -p standin -p loadgen --bins");
    if !status(cargo().args([
        "build",
        "--release",
        "-p",
        "aigov",
        "-p",
        "standin",
        "-p",
        "loadgen",
        "--bins",
    ]))? {
        bail!("the release build failed");
    }
    std::fs::create_dir_all(bench_dir())?;
    let mut reexec = Command::new("unshare");
    if plan.peers {
        banner(&format!("LiteLLM proxy {LITELLM_VERSION}"));
        if let Err(e) = install_litellm() {
            eprintln!("xtask: SKIPPING LiteLLM: cannot install it: {e:#}");
            reexec.env(SKIP_LITELLM, format!("{e:#}"));
        }
        banner(&format!("Portkey gateway {PORTKEY_VERSION}"));
        if let Err(e) = install_portkey() {
            eprintln!("xtask: SKIPPING Portkey: cannot install it: {e:#}");
            reexec.env(SKIP_PORTKEY, format!("{e:#}"));
        }
    }
    // Portkey listens on all interfaces: everything runs in a network namespace of its own
    // with only loopback up. Unprivileged users get one through a user namespace (-r).
    reexec.arg(if is_root() { "-n" } else { "-rn" });
    let exe = std::env::current_exe().context("own executable")?;
    reexec
        .arg("--")
        .arg(exe)
        .arg("bench-gateway")
        .args(args)
        .arg(INSIDE);
    banner("measuring in a private network namespace (unshare -n; only loopback)");
    let st = reexec
        .status()
        .context("cannot run `unshare` (util-linux) to get a private network namespace")?;
    if !st.success() {
        bail!("the measurement run failed ({st})");
    }
    Ok(())
}

fn installed_litellm(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == LITELLM_VERSION)
        && litellm_venv().join("bin/litellm").exists()
}

fn install_litellm() -> Result<()> {
    let venv = litellm_venv();
    let python = venv.join("bin/python");
    if installed_litellm(&python) {
        eprintln!("xtask: already installed in {}", venv.display());
        return Ok(());
    }
    let system_python = std::env::var("AIGOV_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if !python.exists() && !status(Command::new(&system_python).args(["-m", "venv"]).arg(&venv))? {
        bail!("`{system_python} -m venv` failed (apt-get install python3-venv)");
    }
    let spec = format!("litellm[proxy]=={LITELLM_VERSION}");
    if !status(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        &spec,
    ]))? {
        bail!("pip install {spec} failed");
    }
    if !installed_litellm(&python) {
        bail!("litellm {LITELLM_VERSION} not importable after pip install");
    }
    Ok(())
}

fn installed_portkey() -> bool {
    let manifest = portkey_dir().join("node_modules/@portkey-ai/gateway/package.json");
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .is_some_and(|v| v["version"] == PORTKEY_VERSION)
        && portkey_server().exists()
}

fn install_portkey() -> Result<()> {
    if installed_portkey() {
        eprintln!("xtask: already installed in {}", portkey_dir().display());
        return Ok(());
    }
    let dir = portkey_dir();
    std::fs::create_dir_all(&dir)?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(
            &manifest,
            "{\"name\":\"aigov-bench-portkey\",\"private\":true}\n",
        )?;
    }
    let spec = format!("@portkey-ai/gateway@{PORTKEY_VERSION}");
    if !status(Command::new("npm").current_dir(&dir).args([
        "install",
        "--no-audit",
        "--no-fund",
        &spec,
    ]))? {
        bail!("npm install {spec} failed (is node/npm installed?)");
    }
    if !installed_portkey() {
        bail!("{spec} not found under {} after npm install", dir.display());
    }
    Ok(())
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Proc> {
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name} ({cmd:?})"))?;
        Ok(Proc { name, child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Fails when the process has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!(
                "{} exited early ({st}); its log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A one-shot HTTP/1.1 request (`connection: close`); (status, body).
fn http(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status in {:?}", &text[..text.len().min(100)]))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((code, body))
}

/// Polls `GET path` until it answers `ok_status`.
fn wait_ready(proc: &mut Proc, port: u16, path: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok((code, _)) = http("GET", port, path, &[], "")
            && code < 500
        {
            return Ok(());
        }
        proc.check_alive()?;
        if started.elapsed() > timeout {
            bail!(
                "{} not ready after {timeout:?}; its log:\n{}",
                proc.name,
                proc.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `aigov-load` and parses its JSON report (its exit code only says whether requests
/// failed; the report says which).
fn load(args: &[String]) -> Result<Value> {
    let out = Command::new(bin("aigov-load"))
        .args(args)
        .args(["--format", "json"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run aigov-load")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("aigov-load printed no report ({}): {stdout}", out.status))
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// One gateway's latency run against the direct baseline.
struct LatencyRow {
    name: String,
    report: Option<Value>,
    skipped: Option<String>,
}

fn latency_run(
    url: &str,
    headers: &[String],
    direct_url: &str,
    requests: usize,
    warmup: usize,
) -> Result<Value> {
    let mut args = strings(&["latency", "--url", url, "--body-kb", "10", "--model", MODEL]);
    for h in headers {
        args.extend(["-H".to_owned(), h.clone()]);
    }
    args.extend(strings(&[
        "--baseline-url",
        direct_url,
        "--baseline-header",
        &format!("authorization: Bearer {UPSTREAM_OPENAI_KEY}"),
        "-n",
        &requests.to_string(),
        "--warmup",
        &warmup.to_string(),
    ]));
    load(&args)
}

fn measure(plan: Plan) -> Result<()> {
    // Only loopback in here, up.
    if !status(Command::new("ip").args(["link", "set", "lo", "up"]))? {
        bail!("`ip link set lo up` failed (iproute2)");
    }
    // /proc/self/net/dev lists this namespace's interfaces (/sys may show the host's).
    let ifaces: Vec<String> = std::fs::read_to_string("/proc/self/net/dev")?
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect();
    if ifaces != ["lo"] {
        bail!("expected a network namespace with only `lo`, found {ifaces:?}; refusing to run");
    }
    let started = Instant::now();
    let work = tempdir()?;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let nofile = Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();

    // The stand-in upstream.
    let mut standin = Proc::spawn(
        "aigov-standin",
        Command::new(bin("aigov-standin"))
            .args(["--listen", "127.0.0.1:0", "--no-record"])
            .env("STANDIN_OPENAI_KEY", UPSTREAM_OPENAI_KEY)
            .env("STANDIN_ANTHROPIC_KEY", UPSTREAM_ANTHROPIC_KEY)
            .stdout(Stdio::piped()),
        work.join("standin.log"),
    )?;
    let mut first = String::new();
    BufReader::new(standin.child.stdout.take().context("stand-in stdout")?)
        .read_line(&mut first)?;
    let standin_url = first
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line from aigov-standin: {first:?}"))?
        .to_owned();
    let standin_port: u16 = standin_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("stand-in port")?;
    let direct = format!("{standin_url}/v1/chat/completions");
    eprintln!("xtask: stand-in at {standin_url}");

    // aigov serve, routing the model to the stand-in.
    let (mut aigov, aigov_url, aigov_headers) =
        start_aigov(&work, "aigov", &standin_url, "power-loss")?;
    // The same with the faster ledger durability, for the latency table only.
    let (aigov_fast, fast_url, fast_headers) =
        start_aigov(&work, "aigov-process-crash", &standin_url, "process-crash")?;

    // The peers.
    let mut litellm = None;
    let mut portkey = None;
    let mut litellm_skip = std::env::var(SKIP_LITELLM).ok();
    let mut portkey_skip = std::env::var(SKIP_PORTKEY).ok();
    if !plan.peers {
        litellm_skip = Some("--no-peers".into());
        portkey_skip = Some("--no-peers".into());
    }
    let master_key = std::env::var("LITELLM_MASTER_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| format!("sk-bench-master-{}", std::process::id()));
    if litellm_skip.is_none() {
        match start_litellm(&work, &standin_url, &master_key) {
            Ok(p) => litellm = Some(p),
            Err(e) => {
                eprintln!("xtask: SKIPPING LiteLLM: {e:#}");
                litellm_skip = Some(format!("did not start: {e:#}"));
            }
        }
    }
    if portkey_skip.is_none() {
        match start_portkey(&work) {
            Ok(p) => portkey = Some(p),
            Err(e) => {
                eprintln!("xtask: SKIPPING Portkey: {e:#}");
                portkey_skip = Some(format!("did not start: {e:#}"));
            }
        }
    }

    // 1. Added latency, one request at a time, 10 KB prompt.
    banner(
        "added latency: one request at a time, 10 KB prompt, each gateway alternating with the stand-in",
    );
    let mut rows = Vec::new();
    let n_aigov = plan.pick(5000, 300);
    eprintln!("xtask: aigov ({n_aigov} requests)");
    rows.push(LatencyRow {
        name: "aigov (power-loss)".into(),
        report: Some(latency_run(
            &aigov_url,
            &aigov_headers,
            &direct,
            n_aigov,
            plan.pick(500, 50),
        )?),
        skipped: None,
    });
    eprintln!("xtask: aigov, process-crash durability ({n_aigov} requests)");
    rows.push(LatencyRow {
        name: "aigov (process-crash)".into(),
        report: Some(latency_run(
            &fast_url,
            &fast_headers,
            &direct,
            n_aigov,
            plan.pick(500, 50),
        )?),
        skipped: None,
    });
    drop(aigov_fast);
    match (&litellm, litellm_skip) {
        (Some((_, port)), _) => {
            let n = plan.pick(1000, 100);
            eprintln!("xtask: LiteLLM ({n} requests)");
            let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
            let headers = vec![format!("authorization: Bearer {master_key}")];
            rows.push(LatencyRow {
                name: format!("LiteLLM {LITELLM_VERSION}"),
                report: Some(latency_run(&url, &headers, &direct, n, plan.pick(100, 20))?),
                skipped: None,
            });
        }
        (None, reason) => rows.push(LatencyRow {
            name: format!("LiteLLM {LITELLM_VERSION}"),
            report: None,
            skipped: reason,
        }),
    }
    match (&portkey, portkey_skip) {
        (Some((_, port)), _) => {
            let n = plan.pick(3000, 200);
            eprintln!("xtask: Portkey ({n} requests)");
            let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
            let headers = vec![
                "x-portkey-provider: openai".to_owned(),
                format!("x-portkey-custom-host: {standin_url}/v1"),
                format!("authorization: Bearer {UPSTREAM_OPENAI_KEY}"),
            ];
            rows.push(LatencyRow {
                name: format!("Portkey {PORTKEY_VERSION}"),
                report: Some(latency_run(&url, &headers, &direct, n, plan.pick(300, 30))?),
                skipped: None,
            });
        }
        (None, reason) => rows.push(LatencyRow {
            name: format!("Portkey {PORTKEY_VERSION}"),
            report: None,
            skipped: reason,
        }),
    }
    // The peers are idle from here on; stop them so they take no CPU from what follows.
    drop(litellm);
    drop(portkey);

    // 2. Memory with many slow streams (before the throughput run fills allocator caches).
    let mut streams_wanted: usize = plan.pick(1000, 200);
    let limit: usize = nofile.parse().unwrap_or(1024);
    if limit < 2 * streams_wanted + 256 {
        eprintln!(
            "xtask: WARNING: ulimit -n is {limit}: too low for {streams_wanted} streams \
             (each holds a client and an upstream connection); using fewer"
        );
        streams_wanted = (limit.saturating_sub(256)) / 2;
    }
    banner(&format!(
        "memory: {streams_wanted} concurrent slow streams through aigov"
    ));
    // Every event of these streams comes 2 s apart (~20 s per stream): they stay open while
    // held. aigov does not forward the fault header, so the faults are queued.
    let fault = format!("{{\"event_delay_ms\": 2000, \"times\": {streams_wanted}}}");
    let (code, body) = http(
        "POST",
        standin_port,
        "/_standin/faults",
        &[("content-type", "application/json")],
        &fault,
    )?;
    if code != 200 {
        bail!("cannot queue stand-in faults: {code} {body}");
    }
    let mut args = strings(&[
        "streams",
        "--url",
        &aigov_url,
        "-c",
        &streams_wanted.to_string(),
        "--hold-secs",
        plan.pick("8", "2"),
        "--pid",
        &aigov.pid().to_string(),
    ]);
    for h in &aigov_headers {
        args.extend(["-H".to_owned(), h.clone()]);
    }
    let streams = load(&args)?;
    let _ = http("DELETE", standin_port, "/_standin/faults", &[], "");
    // Let aigov record the abandoned streams before the throughput run.
    std::thread::sleep(Duration::from_secs(2));

    // 3. Throughput at p99 < 20 ms, small prompt: the stand-in alone, then through aigov.
    banner("throughput: closed loop, small prompt, best concurrency with p99 < 20 ms");
    let step = plan.pick("3", "1");
    let warm = plan.pick("0.5", "0.2");
    let search = |url: &str, headers: &[String]| {
        let mut args = strings(&[
            "throughput",
            "--url",
            url,
            "--model",
            MODEL,
            "--max-p99-ms",
            "20",
            "-d",
            step,
            "--warmup-secs",
            warm,
            "--max-concurrency",
            "512",
        ]);
        for h in headers {
            args.extend(["-H".to_owned(), h.clone()]);
        }
        load(&args)
    };
    eprintln!("xtask: the stand-in directly");
    let direct_tp = search(
        &direct,
        &[format!("authorization: Bearer {UPSTREAM_OPENAI_KEY}")],
    )?;
    eprintln!("xtask: through aigov");
    let aigov_tp = search(&aigov_url, &aigov_headers)?;
    aigov.check_alive()?;
    let aigov_final = read_status(aigov.pid());

    let summary = Summary {
        plan,
        cores,
        loadavg: loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        nofile,
        rows,
        streams,
        direct_tp,
        aigov_tp,
        aigov_final,
        elapsed: started.elapsed(),
    };
    let text = summary.render();
    let json = serde_json::json!({
        "latency": summary.rows.iter().map(|r| serde_json::json!({
            "name": r.name, "report": r.report, "skipped": r.skipped,
        })).collect::<Vec<_>>(),
        "streams": summary.streams,
        "throughput_direct": summary.direct_tp,
        "throughput_aigov": summary.aigov_tp,
    });
    let saved = bench_dir().join("last-run.json");
    let _ = std::fs::write(&saved, serde_json::to_string_pretty(&json)?);
    println!("{text}");
    eprintln!("xtask: reports of this run: {}", saved.display());
    drop(aigov);
    drop(standin);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Starts `aigov serve` on a fresh data directory `work/name` with the stand-in as upstream
/// and `[audit] durability`; creates a developer key (lena, acme/storefront). Returns the
/// process, the chat completions URL and the request headers.
fn start_aigov(
    work: &Path,
    name: &str,
    standin_url: &str,
    durability: &str,
) -> Result<(Proc, String, Vec<String>)> {
    let data = work.join(name);
    std::fs::create_dir_all(&data)?;
    std::fs::write(
        data.join("aigov.toml"),
        format!(
            "[audit]\ndurability = \"{durability}\"\n\n\
             [[gateway.upstreams]]\nname = \"standin\"\napi = \"openai\"\nbase_url = \"{standin_url}/v1\"\n\
             api_key = \"env:UPSTREAM_OPENAI_KEY\"\nmodels = [\"{MODEL}\"]\n"
        ),
    )?;
    // The example bundle, with budgets no run reaches: every request still goes through the
    // budget checks, but the example's 60-requests-a-minute limit would refuse the load.
    let bundle = data.join("data/bundle");
    copy_dir(&root().join("examples/governance"), &bundle)?;
    std::fs::write(bundle.join("budgets.yaml"), BENCH_BUDGETS)?;
    let port = free_port()?;
    let aigov_cmd = |args: &[&str]| {
        let mut c = Command::new(bin("aigov"));
        c.current_dir(&data).args(args).env("NO_COLOR", "1");
        for (k, _) in std::env::vars() {
            if k.starts_with("AIGOV_") {
                c.env_remove(k);
            }
        }
        c
    };
    let mut aigov = Proc::spawn(
        "aigov serve",
        aigov_cmd(&[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            "data",
        ])
        .env("UPSTREAM_OPENAI_KEY", UPSTREAM_OPENAI_KEY)
        .stdout(Stdio::null()),
        work.join(format!("{name}.log")),
    )?;
    wait_ready(&mut aigov, port, "/healthz", Duration::from_secs(60))?;
    let out = aigov_cmd(&[
        "key",
        "create",
        "--person",
        "lena",
        "--repo",
        "acme/storefront",
        "--data-dir",
        "data",
    ])
    .output()?;
    if !out.status.success() {
        bail!(
            "aigov key create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let key = String::from_utf8(out.stdout)?.trim().to_owned();
    eprintln!(
        "xtask: aigov serve ({durability}) at 127.0.0.1:{port} (pid {})",
        aigov.pid()
    );
    Ok((
        aigov,
        format!("http://127.0.0.1:{port}/v1/chat/completions"),
        vec![
            format!("authorization: Bearer {key}"),
            "x-aigov-tool: aider".to_owned(),
        ],
    ))
}

/// The example's budgets (same shapes, so the same checks) with limits out of reach.
const BENCH_BUDGETS: &str = "budgets:
  - { name: developer-monthly, per: [developer], window: month, limit: { cost_usd: 1_000_000 } }
  - { name: team-daily-tokens, per: [team], window: day, limit: { tokens: 1_000_000_000_000 } }
  - { name: developer-rate, per: [developer], window: minute, limit: { requests: 1_000_000_000 } }
  - name: payments-gpt-4o
    where: { team: payments, model: gpt-4o }
    window: month
    limit: { cost_usd: 500 }
";

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("aigov-bench-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn read_status(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| {
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

fn start_litellm(work: &Path, standin_url: &str, master_key: &str) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let config = work.join("litellm.yaml");
    // No database (so no spend logs), no callbacks, no message logging, no telemetry.
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n      \
             api_base: {standin_url}/v1\n      api_key: {UPSTREAM_OPENAI_KEY}\n\
             litellm_settings:\n  telemetry: false\n  set_verbose: false\n  \
             turn_off_message_logging: true\n  cache: false\n\
             general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  \
             disable_spend_logs: true\n  disable_error_logs: true\n  store_model_in_db: false\n"
        ),
    )?;
    let mut proc = Proc::spawn(
        "LiteLLM proxy",
        Command::new(litellm_venv().join("bin/litellm"))
            .arg("--config")
            .arg(&config)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--num_workers",
                "1",
            ])
            .env("LITELLM_MASTER_KEY", master_key)
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_TELEMETRY", "False")
            .env("DISABLE_ADMIN_UI", "True")
            .env("NO_DOCS", "True")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null()),
        work.join("litellm.log"),
    )?;
    eprintln!("xtask: starting LiteLLM proxy on 127.0.0.1:{port} (takes a while)");
    wait_ready(
        &mut proc,
        port,
        "/health/liveliness",
        Duration::from_secs(180),
    )?;
    Ok((proc, port))
}

fn start_portkey(work: &Path) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let mut proc = Proc::spawn(
        "Portkey gateway",
        Command::new("node")
            .current_dir(portkey_dir())
            .arg(portkey_server())
            .arg(format!("--port={port}"))
            .arg("--headless")
            .env("NODE_ENV", "production")
            // Portkey refuses private and loopback custom hosts unless trusted.
            .env("TRUSTED_CUSTOM_HOSTS", "127.0.0.1,localhost")
            .stdout(Stdio::null()),
        work.join("portkey.log"),
    )?;
    eprintln!("xtask: starting Portkey on port {port} (all interfaces, inside the namespace)");
    wait_ready(&mut proc, port, "/", Duration::from_secs(60))?;
    Ok((proc, port))
}

struct Summary {
    plan: Plan,
    cores: usize,
    loadavg: String,
    nofile: String,
    rows: Vec<LatencyRow>,
    streams: Value,
    direct_tp: Value,
    aigov_tp: Value,
    aigov_final: Option<(u64, u64)>,
    elapsed: Duration,
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn errors(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_owned(),
    }
}

impl Summary {
    fn render(&self) -> String {
        let mut o = String::new();
        let mut line = |s: String| {
            o.push_str(&s);
            o.push('\n');
        };
        line(String::new());
        line(format!(
            "== aigov gateway benchmark ({}) — {} cores, load average at start {}, ulimit -n {}, {:.0} s",
            if self.plan.quick {
                "--quick"
            } else {
                "full run"
            },
            self.cores,
            self.loadavg,
            self.nofile,
            self.elapsed.as_secs_f64()
        ));
        line(String::new());
        line("Added latency: non-streaming OpenAI chat completion, 10 KB prompt, one request at a time,".into());
        line("each gateway's requests alternating with direct ones to the stand-in (µs; added = gateway − direct, same percentile)".into());
        line(format!(
            "{:<22} {:>8} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10}  errors",
            "", "requests", "direct p50", "direct p99", "p50", "p99", "added p50", "added p99"
        ));
        // (name, added p50, added p99) of the aigov rows and of the peers.
        let mut aigovs: Vec<(String, f64, f64)> = Vec::new();
        let mut peers: Vec<(String, f64, f64)> = Vec::new();
        for row in &self.rows {
            let Some(r) = &row.report else {
                line(format!(
                    "{:<22} SKIPPED: {}",
                    row.name,
                    row.skipped.as_deref().unwrap_or("unknown reason")
                ));
                continue;
            };
            let (b, l, a) = (&r["baseline_us"], &r["latency_us"], &r["added_us"]);
            line(format!(
                "{:<22} {:>8} {:>11.1} {:>11.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}  {}",
                row.name,
                l["count"],
                num(&b["p50"]),
                num(&b["p99"]),
                num(&l["p50"]),
                num(&l["p99"]),
                num(&a["p50"]),
                num(&a["p99"]),
                errors(&r["errors"])
            ));
            if let Some(e) = r["first_error"].as_str() {
                line(format!("{:<22}   first error: {e}", ""));
            }
            let added = (num(&a["p50"]), num(&a["p99"]));
            if row.name.starts_with("aigov") {
                aigovs.push((row.name.clone(), added.0, added.1));
            } else {
                peers.push((row.name.clone(), added.0, added.1));
            }
        }
        line(String::new());
        for (name, p50, p99) in &aigovs {
            line(format!(
                "{name} added latency: p50 {p50:.1} µs, p99 {p99:.1} µs (goal: p99 ≤ 100 µs) -> {}",
                verdict(*p99 <= 100.0)
            ));
        }
        for (peer, peer50, peer99) in &peers {
            let goal = if peer.starts_with("LiteLLM") {
                100.0
            } else {
                10.0
            };
            for (name, p50, p99) in &aigovs {
                let (r50, r99) = (peer50 / p50, peer99 / p99);
                line(format!(
                    "{peer} added / {name} added: p50 {r50:.1}×, p99 {r99:.1}× (goal ≥ {goal:.0}×) -> {}",
                    verdict(r50 >= goal && r99 >= goal)
                ));
            }
        }

        line(String::new());
        line("Throughput: closed loop, small prompt, best concurrency whose p99 < 20 ms with no errors".into());
        let best = |v: &Value| -> Option<(f64, u64, f64, f64)> {
            let b = &v["best"];
            b.is_object().then(|| {
                (
                    num(&b["requests_per_sec"]),
                    b["concurrency"].as_u64().unwrap_or(0),
                    num(&b["latency_us"]["p50"]),
                    num(&b["latency_us"]["p99"]),
                )
            })
        };
        let direct = best(&self.direct_tp);
        for (name, v) in [
            ("stand-in direct", &self.direct_tp),
            ("aigov", &self.aigov_tp),
        ] {
            match best(v) {
                Some((rps, c, p50, p99)) => line(format!(
                    "{name:<16} {rps:>9.0} req/s at {c:>3} connections (p50 {p50:.0} µs, p99 {p99:.0} µs)"
                )),
                None => line(format!(
                    "{name:<16} no concurrency had p99 < 20 ms without errors"
                )),
            }
        }
        if let (Some(d), Some(a)) = (direct, best(&self.aigov_tp)) {
            line(format!(
                "aigov / stand-in direct: {:.0}% (goal: aigov ≥ 15,000 req/s) -> {}",
                a.0 / d.0 * 100.0,
                verdict(a.0 >= 15_000.0)
            ));
        }
        for (name, v) in [
            ("stand-in direct", &self.direct_tp),
            ("aigov", &self.aigov_tp),
        ] {
            let steps: Vec<String> = v["steps"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .map(|s| {
                            format!(
                                "c={} {:.0}/s p99 {:.1} ms{}",
                                s["concurrency"],
                                num(&s["requests_per_sec"]),
                                num(&s["latency_us"]["p99"]) / 1000.0,
                                if errors(&s["errors"]) == "none" {
                                    ""
                                } else {
                                    " (errors)"
                                }
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            line(format!("  {name} steps: {}", steps.join("; ")));
        }

        line(String::new());
        let s = &self.streams;
        let m = &s["memory"];
        let mb = |v: &Value| v.as_f64().unwrap_or(f64::NAN) / 1024.0;
        line(format!(
            "Memory: {} concurrent slow streams through aigov (opened {}, max open together {}, ended early {}, errors {})",
            s["concurrency"],
            s["opened"],
            s["max_open"],
            s["ended_early"],
            errors(&s["errors"])
        ));
        if let Some(e) = s["first_error"].as_str() {
            line(format!("  first error: {e}"));
        }
        line(format!(
            "  aigov VmRSS: before {:.1} MB, all open {:.1} MB, peak {:.1} MB, after close {:.1} MB; VmHWM {:.1} MB (goal: < 100 MB) -> {}",
            mb(&m["rss_before_kb"]),
            mb(&m["rss_all_open_kb"]),
            mb(&m["rss_peak_kb"]),
            mb(&m["rss_after_kb"]),
            mb(&m["hwm_kb"]),
            verdict(mb(&m["rss_peak_kb"]) < 100.0 && s["max_open"] == s["concurrency"])
        ));
        if let Some((rss, hwm)) = self.aigov_final {
            line(format!(
                "  aigov after the throughput run: VmRSS {:.1} MB, VmHWM {:.1} MB",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            ));
        }
        o
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
