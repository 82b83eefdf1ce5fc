//! The `aigov` binary: command-line parsing, dispatch, and the mapping of outcomes to exit codes.

mod audit;
mod audit_log;
mod audit_offline;
mod deploy;
mod key;
mod policy;
mod scan;
mod serve;
mod table;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Every exit code the binary uses.
pub mod exit {
    /// Success: valid bundle, all tests passed, decision allowed, nothing found, clean stop.
    pub const OK: u8 = 0;
    /// A negative answer: invalid bundle, failed tests, denied decision, scan findings.
    pub const FAILURE: u8 = 1;
    /// The tool itself could not do its job: bad arguments, unreadable files, database errors.
    pub const TOOL_ERROR: u8 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "aigov",
    version,
    about = "Self-hosted governance for AI-assisted development"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: API, dashboard, bundle hot reload.
    Serve(ServeArgs),
    /// Manage admin tokens for the API and dashboard.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage per-developer keys for the AI gateway (never valid for the API or dashboard).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Authorize, revoke and retro-review deployments; write and verify (offline) the signed
    /// authorization a CD pipeline checks.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Check, test and query a governance bundle without a server.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Scan files, directories (respecting .gitignore), stdin (`-`) or a diff for secrets and
    /// personal data: exit 0 nothing found, 1 found, 2 tool failure.
    Scan(scan::ScanArgs),
    /// Verify the audit ledger offline; manage the log's signer key.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the log in a database (--db: recompute everything, check every checkpoint), an
    /// export (--dir), or one entry's proof (--proof, --entry): exit 0 verifies, 1 problems
    /// found (each named: entry index, tile, stored hash or checkpoint), 2 tool failure.
    Verify(audit_offline::VerifyArgs),
    /// Export the log for an auditor as a C2SP tlog-tiles directory (newest checkpoint, all
    /// hash tiles, the entries of a range, older checkpoints, key, manifest, README).
    Export(audit_offline::ExportArgs),
    /// Write the C2SP tlog-proof of one entry against the newest checkpoint.
    Proof(audit_offline::ProofArgs),
    /// Create the signer key file if missing (mode 0600) and print its public verifier key.
    Key {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Key name for a new key, e.g. the origin's host.
        #[arg(long, default_value = "aigov.local")]
        name: String,
    },
    /// List audit entries, filtered by time, actor, kind and outcome, as a table or JSON lines.
    Log(audit_log::LogArgs),
}

/// Where the configuration and data are; shared by `serve`, `token` and `key`.
#[derive(Debug, Args)]
struct StoreArgs {
    /// Config file [env: AIGOV_CONFIG] [default: aigov.toml, if it exists]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory for the SQLite database, the default bundle and the initial token
    /// [env: AIGOV_DATA_DIR] [default: aigov-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on [env: AIGOV_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Governance bundle directory [env: AIGOV_BUNDLE] [default: <data-dir>/bundle]
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an admin token and print it once.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke the active token with this name.
    Revoke {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a bundle: exit 0 valid, 1 invalid, 2 tool failure.
    Validate {
        bundle: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Run the bundle's policy tests: exit 0 all pass, 1 any fail (or invalid bundle), 2 tool failure.
    Test {
        bundle: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Decide one request and explain why: exit 0 allow, 1 deny, 2 error.
    Explain {
        bundle: PathBuf,
        /// Person id, e.g. `alice`.
        #[arg(long)]
        principal: String,
        /// `SendPrompt`, `MergeChange` or `Deploy`.
        #[arg(long)]
        action: String,
        /// Repository (`acme/web`) or environment (`payments/production`).
        #[arg(long)]
        resource: String,
        /// The action's context as a JSON object, e.g. `{"tool":"claude-code","model":"gpt-4o"}`.
        #[arg(long, value_name = "JSON")]
        context: Option<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Print the Cedar schema aigov ships (bundles extend it with `policy/*.cedarschema`).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(exit::TOOL_ERROR)
        }
    }
}

/// The error and its causes, `: `-separated, skipping causes a message already includes.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if !out.contains(&message) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&message);
        }
    }
    out
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(command) => token::run(command),
        Command::Key(command) => key::run(command),
        Command::Deploy(command) => deploy::run(command),
        Command::Scan(args) => scan::run(&args),
        Command::Audit(command) => audit::run(command),
        Command::Policy(PolicyCommand::Validate { bundle, format }) => {
            policy::validate(&bundle, format)
        }
        Command::Policy(PolicyCommand::Test { bundle, format }) => policy::test(&bundle, format),
        Command::Policy(PolicyCommand::Schema) => {
            print!("{}", ::policy::SCHEMA);
            Ok(0)
        }
        Command::Policy(PolicyCommand::Explain {
            bundle,
            principal,
            action,
            resource,
            context,
            format,
        }) => policy::explain(
            &bundle,
            &principal,
            &action,
            &resource,
            context.as_deref(),
            format,
        ),
    }
}

impl StoreArgs {
    fn flags(&self) -> config::Flags {
        config::Flags {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            ..config::Flags::default()
        }
    }
}

/// The store settings of a validated config.
fn store_config(config: &config::Config) -> store::StoreConfig {
    match &config.database {
        config::Database::Sqlite { path } => store::StoreConfig::Sqlite { path: path.clone() },
        config::Database::Postgres { url, password } => store::StoreConfig::Postgres {
            url: url.clone(),
            password: password.as_ref().map(|p| p.expose().to_owned()),
        },
    }
}

/// Opens the configured store, creating the SQLite file's directory if needed.
async fn open_store(config: &config::Config) -> anyhow::Result<store::Store> {
    use anyhow::Context as _;
    if let config::Database::Sqlite { path } = &config.database
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory `{}`", parent.display()))?;
    }
    let store_config = store_config(config);
    store::Store::open(&store_config)
        .await
        .with_context(|| format!("cannot open the database ({store_config})"))
}

/// Loads (or on first start creates) the audit signer key, applies the configured durability
/// and starts the audit log writer. `checkpoints` starts the periodic checkpoint task.
async fn open_audit(
    config: &config::Config,
    store: &store::Store,
    checkpoints: bool,
) -> anyhow::Result<::audit::AuditLog> {
    use anyhow::Context as _;
    let audit = &config.audit;
    let reference = audit.signing_key.to_string();
    let signer = ::audit::resolve_key(&reference, &audit.key_name).with_context(|| {
        format!("cannot load the audit signer key (`audit.signing_key = \"{reference}\"`)")
    })?;
    store
        .set_ledger_power_safe(audit.durability == config::Durability::PowerLoss)
        .await
        .context("cannot set the audit ledger's durability")?;
    let mut settings = ::audit::AuditConfig::new(audit.origin.clone());
    settings.checkpoint_interval = checkpoints.then_some(audit.checkpoint_interval);
    settings.replica = Some(audit.replica.clone());
    settings.commit_interval = audit.group_commit;
    Ok(::audit::AuditLog::start(store.clone(), signer, settings))
}

/// The local user running a command, as an audit actor: `cli:<user>`.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.chars().any(char::is_control))
        .unwrap_or_else(|| "unknown".to_owned());
    format!("cli:{user}")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
