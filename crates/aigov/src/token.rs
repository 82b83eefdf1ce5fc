//! `aigov token create|list|revoke`: admin tokens in the same store `serve` uses (developer keys
//! are `aigov key`).

use anyhow::Context as _;
use store::{NewToken, Store, StoreError, TokenKind, TokenStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{StoreArgs, TokenCommand, exit};

pub(crate) fn run(command: TokenCommand) -> anyhow::Result<u8> {
    let store_args = match &command {
        TokenCommand::Create { store, .. }
        | TokenCommand::List { store }
        | TokenCommand::Revoke { store, .. } => store,
    };
    let config = load_config(store_args)?;
    crate::runtime()?.block_on(async {
        let store = crate::open_store(&config).await?;
        if let TokenCommand::List { .. } = command {
            return list(&store).await;
        }
        let audit = crate::open_audit(&config, &store, false).await?;
        let actor = crate::cli_actor();
        let result = match command {
            TokenCommand::Create { name, .. } => create(&store, &audit, &actor, &name).await,
            TokenCommand::Revoke { name, .. } => revoke(&store, &audit, &actor, &name).await,
            TokenCommand::List { .. } => unreachable!("handled above"),
        };
        // Flush and sign a checkpoint covering what this command recorded.
        audit
            .shutdown()
            .await
            .context("cannot finish the audit log")?;
        result
    })
}

fn load_config(args: &StoreArgs) -> anyhow::Result<config::Config> {
    let config = config::load(&args.flags())?;
    // Only warnings and errors from the store: the command's own output is the point.
    let log = config::LogConfig {
        level: "warn".to_owned(),
        format: config.log.format,
    };
    crate::serve::init_logging(&log)?;
    Ok(config)
}

async fn create(
    store: &Store,
    audit: &audit::AuditLog,
    actor: &str,
    name: &str,
) -> anyhow::Result<u8> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        anyhow::bail!("a token name must be non-empty printable text");
    }
    let token = server::token::generate_admin_token();
    let inserted = store
        .insert_token(NewToken {
            name: name.to_owned(),
            kind: TokenKind::Admin,
            hash: server::token::hash_token(&token),
            person: None,
            repo: None,
        })
        .await;
    match inserted {
        Ok(_) => {}
        Err(StoreError::Duplicate { .. }) => {
            eprintln!(
                "error: an active token named `{name}` already exists; revoke it first with `aigov token revoke --name {name}`, or pick another name"
            );
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot create the token")),
    }
    if let Err(e) = record(audit, actor, "token.created", name).await {
        // Fail closed: a credential nobody can account for must not stay active.
        let _ = store.revoke_token(TokenKind::Admin, name).await;
        return Err(e.context("the token was revoked again"));
    }
    println!("{token}");
    eprintln!("Created admin token `{name}`. Store it now: it will not be shown again.");
    Ok(exit::OK)
}

async fn list(store: &Store) -> anyhow::Result<u8> {
    // Developer keys are listed by `aigov key list`.
    let mut tokens = store.list_tokens().await.context("cannot list tokens")?;
    tokens.retain(|t| t.kind == TokenKind::Admin);
    if tokens.is_empty() {
        eprintln!("no tokens; create one with `aigov token create --name NAME`");
        return Ok(exit::OK);
    }
    let rows: Vec<[String; 4]> = tokens
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                kind_name(t.kind).to_owned(),
                format_time(t.created_at),
                t.revoked_at.map_or_else(|| "-".to_owned(), format_time),
            ]
        })
        .collect();
    crate::table::print(["NAME", "KIND", "CREATED", "REVOKED"], &rows);
    Ok(exit::OK)
}

async fn revoke(
    store: &Store,
    audit: &audit::AuditLog,
    actor: &str,
    name: &str,
) -> anyhow::Result<u8> {
    if !store
        .revoke_token(TokenKind::Admin, name)
        .await
        .context("cannot revoke the token")?
    {
        eprintln!("error: no active token named `{name}`; see `aigov token list`");
        return Ok(exit::FAILURE);
    }
    record(audit, actor, "token.revoked", name).await?;
    println!("revoked token `{name}`");
    Ok(exit::OK)
}

fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Admin => "admin",
        TokenKind::Developer => "developer",
    }
}

pub(crate) fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Records a token lifecycle event (`credential_change`) in the audit ledger.
pub(crate) async fn record(
    audit: &audit::AuditLog,
    actor: &str,
    event: &str,
    name: &str,
) -> anyhow::Result<()> {
    let record = audit::Record::new(
        ledger::EntryKind::CredentialChange,
        event,
        actor,
        format!("token:{name}"),
        ledger::Outcome::Success,
    )
    .details(serde_json::json!({ "name": name, "kind": "admin" }));
    audit
        .record(record)
        .await
        .with_context(|| format!("cannot record `{event}` in the audit ledger"))?;
    Ok(())
}
