//! `aigov.toml`: raw file structs, environment and flag overrides, validation into a typed [`Config`].
//!
//! Precedence, lowest to highest: built-in defaults, the config file, `AIGOV_*` environment
//! variables, command-line flags. [`from_sources`] does the merging and validation without
//! touching the process environment, so it is testable; [`load`] wires it to the real one.
//!
//! Secrets are only ever given as references (`env:NAME`, `file:PATH`), resolved here, and never
//! appear in error messages or `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

mod gateway;
mod github;
mod webhooks;

pub use gateway::{AnswerAfter, GatewayConfig, Upstream, UpstreamApi};
pub use github::{DEFAULT_GITHUB_API_URL, DEFAULT_GITHUB_TIMEOUT_MS, GithubConfig};
pub use webhooks::WebhooksConfig;

/// Config file used when neither `--config` nor `AIGOV_CONFIG` names one (only if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "aigov.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "aigov-data";
pub const DEFAULT_RELOAD_INTERVAL_MS: u64 = 1000;
/// SQLite file name inside the data directory when `database.url = "sqlite"`.
pub const DEFAULT_SQLITE_FILE: &str = "aigov.db";
/// Audit log origin when none is configured.
pub const DEFAULT_AUDIT_ORIGIN: &str = "aigov.local/audit";
/// Signer key file inside the data directory when `audit.signing_key` is not set.
pub const DEFAULT_AUDIT_KEY_FILE: &str = "audit-signing.key";
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 1000;

/// Environment variables that override the file.
pub mod env {
    pub const CONFIG: &str = "AIGOV_CONFIG";
    pub const LISTEN: &str = "AIGOV_LISTEN";
    pub const DATA_DIR: &str = "AIGOV_DATA_DIR";
    pub const BUNDLE: &str = "AIGOV_BUNDLE";
    pub const DATABASE_URL: &str = "AIGOV_DATABASE_URL";
    pub const LOG: &str = "AIGOV_LOG";
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub bundle: BundleConfig,
    pub database: Database,
    pub log: LogConfig,
    pub audit: AuditConfig,
    pub gateway: GatewayConfig,
    pub webhooks: WebhooksConfig,
    pub github: GithubConfig,
}

/// The audit ledger: its identity, signer key and durability.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditConfig {
    /// Checkpoint origin, the log's identity, e.g. `aigov.example.com/prod`. Never change it
    /// once the log has entries: verifiers pin it.
    pub origin: String,
    /// Name of a newly generated signer key: the origin up to its first `/`.
    pub key_name: String,
    /// Where the Ed25519 signer key is (never the key itself).
    /// `File` is created with a fresh key on first start if it does not exist.
    pub signing_key: SecretRef,
    /// How often a checkpoint is signed when the log grew.
    pub checkpoint_interval: Duration,
    pub durability: Durability,
    /// This replica's name, recorded as each entry's origin.
    pub replica: String,
    /// Group commit: queued entries arriving this soon after the last commit wait for the next
    /// one, so that many share one transaction (`audit.group_commit_ms`; zero: commit at once).
    pub group_commit: Duration,
}

/// What an acknowledged audit entry survives (SQLite; PostgreSQL follows its own
/// `synchronous_commit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// fsync on every group commit: survives power loss and OS crashes (default).
    PowerLoss,
    /// Committed to the write-ahead log without fsync: survives a crash or SIGKILL of aigov,
    /// not of the machine.
    ProcessCrash,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BundleConfig {
    pub path: PathBuf,
    /// `true` when no path was configured and `path` is `<data_dir>/bundle`; only then is the
    /// example bundle written there on first start.
    pub is_default: bool,
    pub reload_interval: Duration,
}

/// Where the data lives. The password is already resolved from its reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    Sqlite {
        path: PathBuf,
    },
    /// `url` never contains a password (such urls are rejected).
    Postgres {
        url: String,
        password: Option<Secret>,
    },
}

impl Database {
    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }
}

/// Safe to log: never shows the password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite { path } => write!(f, "sqlite {}", path.display()),
            Database::Postgres { url, password } => {
                write!(f, "postgres {url}")?;
                if password.is_some() {
                    f.write_str(" (password set)")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// A `tracing` filter directive such as `info` or `aigov=debug,info`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A resolved secret. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Command-line flags that override both the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub bundle: Option<PathBuf>,
}

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A position in the config file (1-based line and column).
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    Env(String),
    Flag(&'static str),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => {
                write!(f, "in `{}` at line {line}, column {column}", path.display())
            }
            Origin::Env(name) => write!(f, "from environment variable `{name}`"),
            Origin::Flag(name) => write!(f, "from flag `{name}`"),
            Origin::Default => f.write_str("(built-in default)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file `{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid `{setting}` {origin}: {message}")]
    Invalid {
        setting: &'static str,
        origin: Origin,
        message: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Raw file structs: exactly the accepted keys, nothing validated yet.

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    data_dir: Option<PathBuf>,
    bundle: RawBundle,
    database: RawDatabase,
    log: RawLog,
    audit: RawAudit,
    gateway: gateway::RawGateway,
    webhooks: webhooks::RawWebhooks,
    github: github::RawGithub,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAudit {
    origin: Option<Spanned<String>>,
    signing_key: Option<Spanned<String>>,
    checkpoint_interval_ms: Option<Spanned<u64>>,
    durability: Option<Durability>,
    replica: Option<Spanned<String>>,
    group_commit_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawBundle {
    path: Option<PathBuf>,
    reload_interval_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDatabase {
    url: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
    format: Option<LogFormat>,
}

// ---------------------------------------------------------------------------------------------

/// Which config file to read: `--config`, else `AIGOV_CONFIG`, else `aigov.toml` if it exists.
/// Returns the path and whether it was asked for explicitly (a missing explicit file is an error).
pub fn config_path(flags: &Flags, env: impl Fn(&str) -> Option<String>) -> (PathBuf, bool) {
    if let Some(path) = &flags.config {
        return (path.clone(), true);
    }
    match env(env::CONFIG).filter(|v| !v.is_empty()) {
        Some(path) => (PathBuf::from(path), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    }
}

/// Loads the configuration from the real process environment and file system.
pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let (path, explicit) = config_path(flags, env);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    from_sources(text.as_deref().map(|t| (path.as_path(), t)), env, flags)
}

/// Merges defaults, the config file text (with its path, for messages), environment variables
/// (looked up through `env`) and flags, then validates. Only `file:` secret references touch the
/// file system.
pub fn from_sources(
    file: Option<(&Path, &str)>,
    env: impl Fn(&str) -> Option<String>,
    flags: &Flags,
) -> Result<Config, ConfigError> {
    let (raw, file_path) = match file {
        Some((path, text)) => {
            let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
            (raw, Some((path, text)))
        }
        None => (RawConfig::default(), None),
    };
    let env = |name: &str| {
        env(name)
            .filter(|v| !v.is_empty())
            .map(|v| (v, Origin::Env(name.to_owned())))
    };
    let from_file = |spanned: &Option<Spanned<String>>| -> Option<(String, Origin)> {
        let spanned = spanned.as_ref()?;
        let (path, text) = file_path?;
        Some((
            spanned.get_ref().clone(),
            file_origin(path, text, spanned.span().start),
        ))
    };

    // listen
    let (listen, origin) = flags
        .listen
        .clone()
        .map(|v| (v, Origin::Flag("--listen")))
        .or_else(|| env(env::LISTEN))
        .or_else(|| from_file(&raw.listen))
        .unwrap_or_else(|| (DEFAULT_LISTEN.to_owned(), Origin::Default));
    let listen: SocketAddr = listen.trim().parse().map_err(|_| ConfigError::Invalid {
        setting: "listen",
        origin,
        message: format!(
            "`{listen}` is not a socket address; expected `IP:PORT` such as `{DEFAULT_LISTEN}`"
        ),
    })?;

    // data_dir
    let data_dir = flags
        .data_dir
        .clone()
        .or_else(|| env(env::DATA_DIR).map(|(v, _)| PathBuf::from(v)))
        .or(raw.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

    // bundle
    let bundle_path = flags
        .bundle
        .clone()
        .or_else(|| env(env::BUNDLE).map(|(v, _)| PathBuf::from(v)))
        .or(raw.bundle.path);
    let is_default = bundle_path.is_none();
    let bundle_path = bundle_path.unwrap_or_else(|| data_dir.join("bundle"));
    // Spanned values only come from the file.
    let at = |offset: usize| {
        let (path, text) = file_path.expect("spanned values only come from a file");
        file_origin(path, text, offset)
    };
    let reload_interval = positive_millis(
        &raw.bundle.reload_interval_ms,
        "bundle.reload_interval_ms",
        DEFAULT_RELOAD_INTERVAL_MS,
        &at,
    )?;

    // database
    let url = env(env::DATABASE_URL).or_else(|| from_file(&raw.database.url));
    let password = from_file(&raw.database.password);
    let password_ref = password
        .as_ref()
        .map(|(value, origin)| {
            parse_secret_ref(
                value,
                "database.password",
                origin,
                "password",
                PASSWORD_REF_HELP,
            )
        })
        .transpose()?;
    let database = match url {
        None => Database::Sqlite {
            path: data_dir.join(DEFAULT_SQLITE_FILE),
        },
        Some((url, origin)) => parse_database_url(url.trim(), origin, &data_dir)?,
    };
    let database = match database {
        Database::Postgres { url, .. } => {
            let password = match (password_ref, password) {
                (Some(reference), Some((_, origin))) => Some(reference.resolve(&env, origin)?),
                _ => None,
            };
            Database::Postgres { url, password }
        }
        sqlite => sqlite,
    };

    // log
    let level = env(env::LOG)
        .or_else(|| from_file(&raw.log.level))
        .map(|(v, _)| v.trim().to_owned())
        .unwrap_or_else(|| "info".to_owned());
    let log = LogConfig {
        level,
        format: raw.log.format.unwrap_or(LogFormat::Text),
    };

    // audit
    let origin = match &raw.audit.origin {
        Some(o) => {
            let value = o.get_ref().trim();
            check_origin(value).map_err(|message| ConfigError::Invalid {
                setting: "audit.origin",
                origin: at(o.span().start),
                message,
            })?;
            value.to_owned()
        }
        None => DEFAULT_AUDIT_ORIGIN.to_owned(),
    };
    let signing_key = match &raw.audit.signing_key {
        Some(k) => parse_secret_ref(
            k.get_ref().trim(),
            "audit.signing_key",
            &at(k.span().start),
            "signing key",
            KEY_REF_HELP,
        )?,
        None => SecretRef::File(data_dir.join(DEFAULT_AUDIT_KEY_FILE)),
    };
    let checkpoint_interval = positive_millis(
        &raw.audit.checkpoint_interval_ms,
        "audit.checkpoint_interval_ms",
        DEFAULT_CHECKPOINT_INTERVAL_MS,
        &at,
    )?;
    let replica = match &raw.audit.replica {
        Some(r) => {
            let value = r.get_ref().trim();
            if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
                return Err(ConfigError::Invalid {
                    setting: "audit.replica",
                    origin: at(r.span().start),
                    message: "expected a printable name of 1 to 128 bytes".to_owned(),
                });
            }
            value.to_owned()
        }
        None => default_replica(),
    };
    let group_commit = match &raw.audit.group_commit_ms {
        Some(ms) if *ms.get_ref() > MAX_GROUP_COMMIT_MS => {
            return Err(ConfigError::Invalid {
                setting: "audit.group_commit_ms",
                origin: at(ms.span().start),
                message: format!(
                    "must be at most {MAX_GROUP_COMMIT_MS} (queued entries would wait that long to be committed); the default is {DEFAULT_GROUP_COMMIT_MS}"
                ),
            });
        }
        Some(ms) => Duration::from_millis(*ms.get_ref()),
        None => Duration::from_millis(DEFAULT_GROUP_COMMIT_MS),
    };
    let audit = AuditConfig {
        key_name: origin.split('/').next().unwrap_or(&origin).to_owned(),
        origin,
        signing_key,
        checkpoint_interval,
        durability: raw.audit.durability.unwrap_or(Durability::PowerLoss),
        replica,
        group_commit,
    };

    // gateway
    let gateway = gateway::validate(&raw.gateway, &at)?;

    // webhooks
    let webhooks = webhooks::validate(&raw.webhooks, &at)?;

    // github
    let github = github::validate(&raw.github, &at)?;

    Ok(Config {
        file: file.map(|(path, _)| path.to_owned()),
        listen,
        data_dir,
        bundle: BundleConfig {
            path: bundle_path,
            is_default,
            reload_interval,
        },
        database,
        log,
        audit,
        gateway,
        webhooks,
        github,
    })
}

/// The host name, or `aigov` when it cannot be read.
fn default_replica() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 128 && !h.chars().any(char::is_control))
        .unwrap_or_else(|| "aigov".to_owned())
}

/// A checkpoint origin: printable ASCII without spaces, like `aigov.example.com/prod`.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() {
        return Err("must not be empty; use a name such as `aigov.example.com/prod`".to_owned());
    }
    if let Some(c) = origin.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "`{}` contains {c:?}; use printable ASCII without spaces, such as `aigov.example.com/prod`",
            origin.escape_debug()
        ));
    }
    if origin.contains('+') {
        return Err(format!(
            "`{origin}` contains `+`, which signed-note key names cannot hold; use e.g. `aigov.example.com/prod`"
        ));
    }
    Ok(())
}

/// A duration in milliseconds of at least 1, or `default` when not set.
const DEFAULT_GROUP_COMMIT_MS: u64 = 2;
const MAX_GROUP_COMMIT_MS: u64 = 1000;

fn positive_millis(
    value: &Option<Spanned<u64>>,
    setting: &'static str,
    default: u64,
    at: &dyn Fn(usize) -> Origin,
) -> Result<Duration, ConfigError> {
    match value {
        Some(ms) if *ms.get_ref() == 0 => Err(ConfigError::Invalid {
            setting,
            origin: at(ms.span().start),
            message: "must be at least 1".to_owned(),
        }),
        Some(ms) => Ok(Duration::from_millis(*ms.get_ref())),
        None => Ok(Duration::from_millis(default)),
    }
}

/// 1-based line and column of a byte offset in the file text.
fn file_origin(path: &Path, text: &str, offset: usize) -> Origin {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Origin::File {
        path: path.to_owned(),
        line,
        column,
    }
}

const PASSWORD_REF_HELP: &str = "use a reference instead: `env:NAME` reads the environment variable NAME, \
     `file:PATH` reads the file at PATH (surrounding whitespace is trimmed); \
     for example `password = \"env:AIGOV_DB_PASSWORD\"`";

const KEY_REF_HELP: &str = "use `file:PATH` (a key file, created on first start if missing) or \
     `env:NAME` (a variable holding the key text from such a file)";

/// A reference to a secret: an environment variable holding it, or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

/// Prints the reference (`env:NAME` or `file:PATH`), never a secret.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Checks the reference syntax of the `setting` holding a `what`. Never puts `value` into an
/// error: it may be the secret itself.
fn parse_secret_ref(
    value: &str,
    setting: &'static str,
    origin: &Origin,
    what: &str,
    help: &str,
) -> Result<SecretRef, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        setting,
        origin: origin.clone(),
        message,
    };
    if let Some(name) = value.strip_prefix("env:") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(format!(
                "`env:` must be followed by an environment variable name (letters, digits, `_`); {help}"
            )));
        }
        Ok(SecretRef::Env(name.to_owned()))
    } else if let Some(path) = value.strip_prefix("file:") {
        if path.is_empty() {
            return Err(invalid(format!(
                "`file:` must be followed by a path; {help}"
            )));
        }
        Ok(SecretRef::File(PathBuf::from(path)))
    } else {
        Err(invalid(format!(
            "the {what} must not be written into the config file; {help}"
        )))
    }
}

impl SecretRef {
    fn resolve(
        &self,
        env: &impl Fn(&str) -> Option<(String, Origin)>,
        origin: Origin,
    ) -> Result<Secret, ConfigError> {
        self.resolve_as("database.password", env, origin)
    }

    /// Reads the secret, naming `setting` in errors (never the secret).
    fn resolve_as(
        &self,
        setting: &'static str,
        env: &dyn Fn(&str) -> Option<(String, Origin)>,
        origin: Origin,
    ) -> Result<Secret, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            setting,
            origin: origin.clone(),
            message,
        };
        match self {
            SecretRef::Env(name) => match env(name) {
                Some((value, _)) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
                _ => Err(invalid(format!(
                    "`env:{name}` refers to environment variable `{name}`, which is not set or empty"
                ))),
            },
            SecretRef::File(path) => match std::fs::read_to_string(path) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
                Ok(_) => Err(invalid(format!("`file:{}` is empty", path.display()))),
                Err(e) => Err(invalid(format!(
                    "cannot read `file:{}`: {e}",
                    path.display()
                ))),
            },
        }
    }
}

/// `sqlite`, `sqlite:PATH` or `postgres://user@host:port/db`. Errors never echo the url, which
/// might contain a password.
fn parse_database_url(url: &str, origin: Origin, data_dir: &Path) -> Result<Database, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        setting: "database.url",
        origin: origin.clone(),
        message,
    };
    if url == "sqlite" {
        return Ok(Database::Sqlite {
            path: data_dir.join(DEFAULT_SQLITE_FILE),
        });
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid(
                "`sqlite:` must be followed by a file path, e.g. `sqlite:/var/lib/aigov/aigov.db`"
                    .to_owned(),
            ));
        }
        return Ok(Database::Sqlite {
            path: PathBuf::from(path),
        });
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "expected `sqlite`, `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`".to_owned(),
        ));
    };
    if scheme != "postgres" && scheme != "postgresql" {
        let scheme: String = scheme.chars().take(20).collect();
        return Err(invalid(format!(
            "unsupported scheme `{scheme}`; expected `sqlite`, `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`"
        )));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let has_password_in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let has_password_in_query = rest.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some("password"))
    });
    if has_password_in_userinfo || has_password_in_query {
        return Err(invalid(
            "the url contains a password; remove it from the url and set \
             `database.password = \"env:AIGOV_DB_PASSWORD\"` (or `file:PATH`) instead"
                .to_owned(),
        ));
    }
    if authority.rsplit('@').next().unwrap_or("").is_empty() {
        return Err(invalid(
            "the postgres url has no host; expected `postgres://USER@HOST:PORT/DB`".to_owned(),
        ));
    }
    Ok(Database::Postgres {
        url: url.to_owned(),
        password: None,
    })
}

#[cfg(test)]
mod tests;
