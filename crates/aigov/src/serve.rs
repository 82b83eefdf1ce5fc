//! `aigov serve`: config, logging, first-start setup (example bundle, initial admin token),
//! then the HTTP server until SIGTERM/SIGINT.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use store::{NewToken, Store, TokenKind, TokenStore};
use tracing_subscriber::EnvFilter;

use crate::{ServeArgs, exit};

/// Name of the token created when the store has no active admin token.
const INITIAL_ADMIN: &str = "initial-admin";
/// File in the data directory that receives the initial admin token.
const INITIAL_ADMIN_FILE: &str = "initial-admin-token";

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let flags = config::Flags {
        listen: args.listen,
        bundle: args.bundle,
        ..args.store.flags()
    };
    let config = config::load(&flags)?;
    init_logging(&config.log)?;
    crate::runtime()?.block_on(serve(config))?;
    Ok(exit::OK)
}

pub(crate) fn init_logging(log: &config::LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&log.level).with_context(|| {
        format!(
            "invalid log filter `{}` (from `log.level` or `AIGOV_LOG`)",
            log.level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        config::LogFormat::Text => builder.init(),
        config::LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn serve(config: config::Config) -> anyhow::Result<()> {
    if let Some(file) = &config.file {
        tracing::info!(file = %file.display(), "configuration loaded");
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create data directory `{}`",
            config.data_dir.display()
        )
    })?;

    let bundle_path = config.bundle.path.clone();
    if config.bundle.is_default && !bundle_path.exists() {
        bundle::example::write_to(&bundle_path).with_context(|| {
            format!(
                "cannot write the example bundle to `{}`",
                bundle_path.display()
            )
        })?;
        tracing::info!(
            "no bundle yet: wrote the example bundle to `{}`; edit it to describe your organisation",
            bundle_path.display()
        );
    }
    let loaded = match server::load_bundle(&bundle_path).await {
        Ok(loaded) => loaded,
        Err(bundle::LoadError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                if d.is_error() {
                    tracing::error!("{}", crate::policy::rooted(&bundle_path, d));
                } else {
                    tracing::warn!("{}", crate::policy::rooted(&bundle_path, d));
                }
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            bail!(
                "the bundle at `{}` is invalid ({errors} error(s)); fix it, check with `aigov policy validate {}`",
                bundle_path.display(),
                bundle_path.display()
            );
        }
        Err(e) => return Err(e.into()),
    };
    for warning in &loaded.bundle.warnings {
        tracing::warn!("{}", crate::policy::rooted(&bundle_path, warning));
    }
    tracing::info!(
        path = %bundle_path.display(),
        digest = %loaded.bundle.digest,
        policies = loaded.bundle.engine.policies().len(),
        "bundle loaded"
    );

    let store = crate::open_store(&config).await?;
    let audit = crate::open_audit(&config, &store, true).await?;
    lifecycle(&audit, &config, "audit.started").await?;
    ensure_admin_token(&store, &audit, &config.data_dir).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(backend = store.backend(), database = %crate::store_config(&config), "aigov listening on http://{address}");

    let shutdown = shutdown_signal()?;
    let mut gateway = config.gateway.clone();
    gateway.resolve_keys()?;
    for u in &gateway.upstreams {
        tracing::info!(upstream = %u.name, base_url = %u.base_url, models = ?u.models, "gateway upstream");
        for m in u.models.iter().filter(|m| gateway.prices.get(m).is_none()) {
            tracing::warn!(model = %m, "no `[[gateway.prices]]` entry: this model's requests cost 0 against cost budgets (tokens and requests still count)");
        }
    }
    let mut webhooks = config.webhooks.clone();
    webhooks.resolve_secrets()?;
    for (forge, configured) in [
        ("github", webhooks.github_secret.is_some()),
        ("gitlab", webhooks.gitlab_token.is_some()),
    ] {
        if configured {
            tracing::info!(
                forge,
                process = webhooks.process,
                "webhooks: receiving at /webhooks/{forge}"
            );
        }
    }
    let mut github = config.github.clone();
    github.resolve_secrets()?;
    let github = server::github::GithubApi::new(&github)?;
    match &github {
        Some(api) => tracing::info!(
            api_url = api.api_url(),
            check = server::github::GATE_CHECK_NAME,
            "github: gate results are posted as check runs and deployment protection rule reviews"
        ),
        None => tracing::info!(
            "github: no `github.token` configured, gate results are decided and recorded but not posted to GitHub"
        ),
    }
    let state = server::AppState::with_github(
        store,
        audit.clone(),
        loaded,
        bundle_path,
        config.bundle.reload_interval,
        gateway,
        webhooks,
        github,
    );
    let served = server::serve(state, listener, shutdown).await;
    // Whatever happened, record the stop, then flush and sign a final checkpoint.
    let stopped = lifecycle(&audit, &config, "audit.stopped").await;
    audit
        .shutdown()
        .await
        .context("cannot finish the audit log")?;
    served?;
    stopped?;
    tracing::info!("aigov stopped");
    Ok(())
}

/// Records the audit log's start or stop (`audit_lifecycle`) with the settings in force.
async fn lifecycle(
    audit: &audit::AuditLog,
    config: &config::Config,
    event: &str,
) -> anyhow::Result<()> {
    let head = audit.head().await?;
    tracing::info!(
        origin = %config.audit.origin,
        size = head.size,
        key = %config.audit.signing_key,
        "{event}"
    );
    let durability = match config.audit.durability {
        config::Durability::PowerLoss => "power-loss",
        config::Durability::ProcessCrash => "process-crash",
    };
    audit
        .record(
            audit::Record::new(
                ledger::EntryKind::AuditLifecycle,
                event,
                "aigov",
                config.audit.origin.as_str(),
                ledger::Outcome::Success,
            )
            .field("durability", durability)
            .field("version", env!("CARGO_PKG_VERSION"))
            .details(serde_json::json!({
                "size": head.size,
                "root": head.root.to_string(),
                "durability": durability,
            })),
        )
        .await
        .with_context(|| format!("cannot record `{event}` in the audit ledger"))?;
    Ok(())
}

/// Completes on the first SIGTERM or SIGINT. Handlers are installed before this returns.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
        }
    })
}

/// When no admin token is active, creates `initial-admin` and writes it to a 0600 file in the
/// data directory. Only the file's path is logged.
async fn ensure_admin_token(
    store: &Store,
    audit: &audit::AuditLog,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let tokens = store.list_tokens().await.context("cannot list tokens")?;
    if tokens
        .iter()
        .any(|t| t.kind == TokenKind::Admin && t.revoked_at.is_none())
    {
        return Ok(());
    }
    let token = server::token::generate_admin_token();
    let path = data_dir.join(INITIAL_ADMIN_FILE);
    write_secret_file(&path, &token)?;
    let inserted = store
        .insert_token(NewToken {
            name: INITIAL_ADMIN.to_owned(),
            kind: TokenKind::Admin,
            hash: server::token::hash_token(&token),
            person: None,
            repo: None,
        })
        .await;
    if let Err(e) = inserted {
        let _ = std::fs::remove_file(&path);
        return Err(anyhow::Error::new(e).context("cannot create the initial admin token"));
    }
    if let Err(e) = crate::token::record(audit, "aigov", "token.created", INITIAL_ADMIN).await {
        let _ = store.revoke_token(TokenKind::Admin, INITIAL_ADMIN).await;
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    tracing::info!(
        "no active admin token: created `{INITIAL_ADMIN}` and wrote it to `{}` (mode 0600); sign in with it, then create personal tokens and revoke it",
        path.display()
    );
    Ok(())
}

/// Writes `secret` to `path`, readable and writable by the owner only.
fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    let context = || format!("cannot write `{}`", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(context)?;
    // `mode` applies only to new files; an older file keeps its permissions otherwise.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(context)?;
    writeln!(file, "{secret}").with_context(context)?;
    Ok(())
}
