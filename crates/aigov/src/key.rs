//! `aigov key create|list|revoke`: per-developer keys for the AI gateway, in the same store
//! `serve` uses. A key belongs to an inventory person and may carry a default repository scope;
//! it is stored hashed and printed once. Developer keys never open the admin API or dashboard.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use server::keys::{self, IssuedKey, KeyError, KeyRequest};
use store::Store;

use crate::{StoreArgs, exit};

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a developer key for a person and print it once.
    Create {
        /// The inventory person the key belongs to, e.g. `lena`.
        #[arg(long)]
        person: String,
        /// Default repository scope of the key.
        #[arg(long, value_name = "OWNER/NAME")]
        repo: Option<String>,
        /// Key name [default: <person>-<n>]
        #[arg(long)]
        name: Option<String>,
        /// Bundle whose inventory must list the person [env: AIGOV_BUNDLE] [default: the one
        /// `aigov serve` uses]
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List developer keys (never the keys themselves).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke the active developer key with this name.
    Revoke {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) fn run(command: KeyCommand) -> anyhow::Result<u8> {
    let (store_args, bundle) = match &command {
        KeyCommand::Create { store, bundle, .. } => (store, bundle.clone()),
        KeyCommand::List { store } | KeyCommand::Revoke { store, .. } => (store, None),
    };
    let config = load_config(store_args, bundle)?;
    let request = match &command {
        KeyCommand::Create {
            person, repo, name, ..
        } => {
            let request = KeyRequest::new(person, repo.as_deref(), name.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some(code) = check_person(&config, &request.person)? {
                return Ok(code);
            }
            Some(request)
        }
        _ => None,
    };
    crate::runtime()?.block_on(async {
        let store = crate::open_store(&config).await?;
        if let KeyCommand::List { .. } = command {
            return list(&store).await;
        }
        let audit = crate::open_audit(&config, &store, false).await?;
        let actor = crate::cli_actor();
        let result = match (command, request) {
            (KeyCommand::Create { .. }, Some(request)) => {
                create(&store, &audit, &actor, request).await
            }
            (KeyCommand::Revoke { name, .. }, _) => revoke(&store, &audit, &actor, &name).await,
            _ => unreachable!("list handled above; create always has a request"),
        };
        // Flush and sign a checkpoint covering what this command recorded.
        audit
            .shutdown()
            .await
            .context("cannot finish the audit log")?;
        result
    })
}

fn load_config(args: &StoreArgs, bundle: Option<PathBuf>) -> anyhow::Result<config::Config> {
    let flags = config::Flags {
        bundle,
        ..args.flags()
    };
    let config = config::load(&flags)?;
    // Only warnings and errors from the store: the command's own output is the point.
    let log = config::LogConfig {
        level: "warn".to_owned(),
        format: config.log.format,
    };
    crate::serve::init_logging(&log)?;
    Ok(config)
}

/// Checks that the bundle `serve` uses lists `person`. Returns an exit code when it does not.
/// Only the default bundle may be missing (`serve` writes the example there on first start);
/// then the person cannot be checked, which is noted.
fn check_person(config: &config::Config, person: &str) -> anyhow::Result<Option<u8>> {
    let path = &config.bundle.path;
    if config.bundle.is_default && !path.exists() {
        eprintln!(
            "note: no bundle at `{}` yet, so person `{person}` was not checked against the inventory",
            path.display()
        );
        return Ok(None);
    }
    let loaded = match bundle::load(path) {
        Ok(loaded) => loaded,
        Err(bundle::LoadError::Invalid(diagnostics)) => {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            anyhow::bail!(
                "cannot check person `{person}`: the bundle at `{}` is invalid ({errors} error(s)); check it with `aigov policy validate {}`",
                path.display(),
                path.display()
            );
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot check person `{person}` against the bundle's inventory"
            )));
        }
    };
    let people = &loaded.inventory.people;
    if people.contains_key(person) {
        return Ok(None);
    }
    eprintln!(
        "error: unknown person `{person}`: the inventory of the bundle at `{}` does not list them",
        path.display()
    );
    match policy::closest(person, people.keys().cloned()) {
        Some(best) => eprintln!("  hint: did you mean `{best}`?"),
        None => eprintln!("  hint: add them to the bundle's `inventory/` first"),
    }
    Ok(Some(exit::TOOL_ERROR))
}

async fn create(
    store: &Store,
    audit: &audit::AuditLog,
    actor: &str,
    request: KeyRequest,
) -> anyhow::Result<u8> {
    let person = request.person.clone();
    match keys::issue(store, audit, actor, request).await {
        Ok(IssuedKey { record, key }) => {
            println!("{key}");
            let scope = record
                .repo
                .as_deref()
                .map(|repo| format!(", default repository `{repo}`"))
                .unwrap_or_default();
            eprintln!(
                "Created developer key `{}` for `{person}`{scope}. Store it now: it will not be shown again.",
                record.name
            );
            Ok(exit::OK)
        }
        Err(KeyError::NameTaken(name)) => {
            eprintln!(
                "error: an active developer key named `{name}` already exists; revoke it first with `aigov key revoke --name {name}`, or pick another name"
            );
            Ok(exit::FAILURE)
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot create the key")),
    }
}

async fn list(store: &Store) -> anyhow::Result<u8> {
    let keys = keys::list(store).await.context("cannot list keys")?;
    if keys.is_empty() {
        eprintln!("no developer keys; create one with `aigov key create --person PERSON`");
        return Ok(exit::OK);
    }
    let dash = || "-".to_owned();
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|k| {
            [
                k.name.clone(),
                k.person.clone().unwrap_or_else(dash),
                k.repo.clone().unwrap_or_else(dash),
                crate::token::format_time(k.created_at),
                k.revoked_at.map_or_else(dash, crate::token::format_time),
            ]
        })
        .collect();
    crate::table::print(["NAME", "PERSON", "REPO", "CREATED", "REVOKED"], &rows);
    Ok(exit::OK)
}

async fn revoke(
    store: &Store,
    audit: &audit::AuditLog,
    actor: &str,
    name: &str,
) -> anyhow::Result<u8> {
    match keys::revoke(store, audit, actor, name).await {
        Ok(_) => {
            println!("revoked developer key `{name}`");
            Ok(exit::OK)
        }
        Err(KeyError::NotFound(_)) => {
            eprintln!("error: no active developer key named `{name}`; see `aigov key list`");
            Ok(exit::FAILURE)
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot revoke the key")),
    }
}
