//! Throwaway PostgreSQL cluster for the test run: temp data dir, free loopback port, trust auth;
//! stopped and deleted on drop. As root, server commands run as the `postgres` system user.

use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Prefix of the temp directories; used to find clusters left behind by killed runs.
const DIR_PREFIX: &str = "aigov-xtask-pg-";
const SYSTEM_USER: &str = "postgres";

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// Directory holding `initdb`, `pg_ctl` and `postgres`: from PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian/Ubuntu layout).
pub fn find_binaries() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_server_binaries(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_str()?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()?;
            let bin = e.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A running cluster. Dropping it stops the server and removes the directory.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_system_user: bool,
}

impl Cluster {
    pub fn start(bin: &Path) -> Result<Cluster> {
        let as_system_user = is_root();
        cleanup_stale(bin, as_system_user);
        if as_system_user {
            let known = Command::new("id")
                .arg(SYSTEM_USER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !known {
                bail!(
                    "running as root, but the `{SYSTEM_USER}` system user does not exist \
                     (PostgreSQL refuses to run as root; the Debian postgresql package creates it)"
                );
            }
        }

        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_micros())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // From here on, Drop cleans up.
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            port: 0,
            as_system_user,
        };
        if as_system_user {
            cluster.run_quiet(
                Command::new("chown")
                    .arg(format!("{SYSTEM_USER}:"))
                    .arg(&cluster.dir),
                "chown",
            )?;
        }

        let data = cluster.data_dir();
        let mut initdb = cluster.pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        cluster.run_quiet(&mut initdb, "initdb")?;

        cluster.port = free_port()?;
        let conf = format!(
            "\n# added by cargo xtask test\n\
             listen_addresses = '127.0.0.1'\n\
             port = {}\n\
             unix_socket_directories = '{}'\n\
             max_connections = 200\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            cluster.port,
            cluster.dir.display()
        );
        fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .context("cannot write postgresql.conf")?;

        let mut start = cluster.pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.log_file())
            .args(["-w", "-t", "60", "start"]);
        if let Err(e) = cluster.run_quiet(&mut start, "pg_ctl start") {
            cluster.print_log();
            return Err(e);
        }
        if let Err(e) = cluster.wait_ready(Duration::from_secs(30)) {
            cluster.print_log();
            return Err(e);
        }
        eprintln!(
            "xtask: PostgreSQL ready on 127.0.0.1:{} (data in {})",
            cluster.port,
            cluster.dir.display()
        );
        Ok(cluster)
    }

    /// Superuser URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// A server command, run as the `postgres` user when we are root.
    fn pg_command(&self, program: &str) -> Command {
        pg_command(&self.bin, program, self.as_system_user, &self.dir)
    }

    /// Runs a command capturing its output; shows the output only on failure.
    fn run_quiet(&self, cmd: &mut Command, what: &str) -> Result<()> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {what} ({cmd:?})"))?;
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            bail!("{what} failed ({})", out.status);
        }
        Ok(())
    }

    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let isready = self.bin.join("pg_isready");
        loop {
            let ready = if isready.is_file() {
                Command::new(&isready)
                    .args([
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                        "-p",
                    ])
                    .arg(self.port.to_string())
                    .status()
                    .is_ok_and(|s| s.success())
            } else {
                TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()
            };
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL did not accept connections on port {} within {timeout:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn print_log(&self) {
        if let Ok(log) = fs::read_to_string(self.log_file()) {
            eprintln!("--- PostgreSQL server log ---\n{log}---");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            eprintln!("xtask: stopping PostgreSQL");
            stop(&self.bin, &self.data_dir(), self.as_system_user, &self.dir);
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: warning: cannot remove {}: {e}", self.dir.display());
        }
    }
}

fn pg_command(bin: &Path, program: &str, as_system_user: bool, cwd: &Path) -> Command {
    let mut cmd = if as_system_user {
        let mut c = Command::new("runuser");
        c.args(["-u", SYSTEM_USER, "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    };
    cmd.current_dir(cwd);
    cmd
}

fn stop(bin: &Path, data: &Path, as_system_user: bool, cwd: &Path) {
    for mode in ["fast", "immediate"] {
        let ok = pg_command(bin, "pg_ctl", as_system_user, cwd)
            .arg("-D")
            .arg(data)
            .args(["-m", mode, "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
    }
    eprintln!(
        "xtask: warning: could not stop PostgreSQL in {}",
        data.display()
    );
}

/// Stops and removes clusters whose xtask process is gone (e.g. killed by Ctrl-C, which skips
/// destructors).
fn cleanup_stale(bin: &Path, as_system_user: bool) {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        eprintln!("xtask: removing stale test cluster {}", dir.display());
        let data = dir.join("data");
        if data.join("postmaster.pid").exists() {
            stop(bin, &data, as_system_user, &dir);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
