//! `aigov key create|list|revoke`: per-developer keys for the AI gateway, in the same store
//! `serve` uses. A key belongs to an inventory person and may carry a default repository scope;
//! it is stored hashed and printed once. Developer keys never open the admin API or dashboard.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use store::{NewToken, Store, StoreError, TokenKind, TokenRecord, TokenStore};

use crate::{StoreArgs, exit};

/// How often a create with a generated name retries when another create took the name first.
const NAME_ATTEMPTS: usize = 5;

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

/// What `create` was asked for, validated.
struct Request {
    person: String,
    repo: Option<String>,
    name: Option<String>,
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
            let request = validate(person, repo.as_deref(), name.as_deref())?;
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

fn printable(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn validate(person: &str, repo: Option<&str>, name: Option<&str>) -> anyhow::Result<Request> {
    let person = person.trim();
    if !printable(person) {
        anyhow::bail!("`--person` must be an inventory person id, e.g. `lena`");
    }
    let repo = repo.map(str::trim);
    if let Some(repo) = repo {
        let valid = repo.split_once('/').is_some_and(|(owner, name)| {
            printable(owner) && printable(name) && !name.contains('/')
        });
        if !valid {
            anyhow::bail!(
                "invalid `--repo` `{repo}`: expected `owner/name`, e.g. `acme/storefront`"
            );
        }
    }
    let name = name.map(str::trim);
    if let Some(name) = name
        && (name.is_empty() || name.chars().any(char::is_control))
    {
        anyhow::bail!("a key name must be non-empty printable text");
    }
    Ok(Request {
        person: person.to_owned(),
        repo: repo.map(str::to_owned),
        name: name.map(str::to_owned),
    })
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

/// `<person>-<n>` with the smallest `n` no developer key has used, revoked ones included (so a
/// name in the ledger keeps meaning one key).
fn default_name(keys: &[TokenRecord], person: &str) -> String {
    let taken: BTreeSet<&str> = keys
        .iter()
        .filter(|k| k.kind == TokenKind::Developer)
        .map(|k| k.name.as_str())
        .collect();
    (1..)
        .map(|n| format!("{person}-{n}"))
        .find(|name| !taken.contains(name.as_str()))
        .unwrap_or_else(|| unreachable!("an unbounded range always has a free name"))
}

async fn create(
    store: &Store,
    audit: &audit::AuditLog,
    actor: &str,
    request: Request,
) -> anyhow::Result<u8> {
    let key = server::token::generate_developer_key();
    let hash = server::token::hash_token(&key);
    let mut attempts = 0;
    let record = loop {
        attempts += 1;
        let name = match &request.name {
            Some(name) => name.clone(),
            None => {
                let keys = store.list_tokens().await.context("cannot list keys")?;
                default_name(&keys, &request.person)
            }
        };
        let inserted = store
            .insert_token(NewToken {
                name: name.clone(),
                kind: TokenKind::Developer,
                hash: hash.clone(),
                person: Some(request.person.clone()),
                repo: request.repo.clone(),
            })
            .await;
        match inserted {
            Ok(record) => break record,
            // Another create took the generated name first: pick the next one.
            Err(StoreError::Duplicate { what, .. })
                if request.name.is_none() && what != "token hash" && attempts < NAME_ATTEMPTS => {}
            Err(StoreError::Duplicate { .. }) => {
                eprintln!(
                    "error: an active developer key named `{name}` already exists; revoke it first with `aigov key revoke --name {name}`, or pick another name"
                );
                return Ok(exit::FAILURE);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("cannot create the key")),
        }
    };
    if let Err(e) = record_event(audit, actor, "key.created", &record).await {
        // Fail closed: a credential nobody can account for must not stay active.
        let _ = store.revoke_token(TokenKind::Developer, &record.name).await;
        return Err(e.context("the key was revoked again"));
    }
    println!("{key}");
    let scope = record
        .repo
        .as_deref()
        .map(|repo| format!(", default repository `{repo}`"))
        .unwrap_or_default();
    eprintln!(
        "Created developer key `{}` for `{}`{scope}. Store it now: it will not be shown again.",
        record.name, request.person
    );
    Ok(exit::OK)
}

async fn list(store: &Store) -> anyhow::Result<u8> {
    let mut keys = store.list_tokens().await.context("cannot list keys")?;
    keys.retain(|k| k.kind == TokenKind::Developer);
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
    let active = store
        .list_tokens()
        .await
        .context("cannot list keys")?
        .into_iter()
        .find(|k| k.kind == TokenKind::Developer && k.name == name && k.revoked_at.is_none());
    let revoked = match active {
        Some(key) => store
            .revoke_token(TokenKind::Developer, name)
            .await
            .context("cannot revoke the key")?
            .then_some(key),
        None => None,
    };
    let Some(key) = revoked else {
        eprintln!("error: no active developer key named `{name}`; see `aigov key list`");
        return Ok(exit::FAILURE);
    };
    record_event(audit, actor, "key.revoked", &key).await?;
    println!("revoked developer key `{name}`");
    Ok(exit::OK)
}

/// Records a developer key lifecycle event (`credential_change`) in the audit ledger; never
/// the key or its hash.
async fn record_event(
    audit: &audit::AuditLog,
    actor: &str,
    event: &str,
    key: &TokenRecord,
) -> anyhow::Result<()> {
    let record = audit::Record::new(
        ledger::EntryKind::CredentialChange,
        event,
        actor,
        format!("key:{}", key.name),
        ledger::Outcome::Success,
    )
    .details(serde_json::json!({
        "name": key.name,
        "kind": TokenKind::Developer.as_str(),
        "person": key.person,
        "repo": key.repo,
    }));
    audit
        .record(record)
        .await
        .with_context(|| format!("cannot record `{event}` in the audit ledger"))?;
    Ok(())
}
