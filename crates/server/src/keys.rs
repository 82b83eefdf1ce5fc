//! Developer keys for the AI gateway as a service (no HTTP): issue one for an inventory person
//! (generated, stored hashed, returned once) and revoke one, each recorded in the audit ledger
//! as a `credential_change`. `aigov key` and `/api/v1/keys` both call these.

use std::collections::BTreeSet;

use audit::{AuditError, AuditLog, Record};
use store::{NewToken, Store, StoreError, TokenKind, TokenRecord, TokenStore};

/// How often an issue with a generated name retries when another issue took the name first.
const NAME_ATTEMPTS: usize = 5;

/// Why a key could not be issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The request itself is wrong (what, and how to fix it).
    #[error("{0}")]
    Invalid(String),
    #[error(
        "an active developer key named `{0}` already exists; revoke it first, or pick another name"
    )]
    NameTaken(String),
    #[error("no active developer key named `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger could not record the change. An issued key is revoked again (fail closed: a
    /// credential nobody can account for must not stay active).
    #[error("the key change could not be recorded in the audit ledger, so it was not made")]
    Audit(#[from] AuditError),
}

/// A validated request for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    /// The inventory person the key belongs to.
    pub person: String,
    /// Default repository scope, `owner/name`.
    pub repo: Option<String>,
    /// Key name; `None`: `<person>-<n>`.
    pub name: Option<String>,
}

/// A key just issued: its record and the key itself, which is never available again.
#[derive(Debug)]
pub struct IssuedKey {
    pub record: TokenRecord,
    pub key: String,
}

fn printable(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

impl KeyRequest {
    /// Checks the shape of each part (not whether the person exists: the caller knows the
    /// inventory in service).
    pub fn new(
        person: &str,
        repo: Option<&str>,
        name: Option<&str>,
    ) -> Result<KeyRequest, KeyError> {
        let person = person.trim();
        if !printable(person) {
            return Err(KeyError::Invalid(format!(
                "invalid person `{}`: expected an inventory person id, e.g. `lena`",
                person.escape_debug()
            )));
        }
        let repo = repo.map(str::trim);
        if let Some(repo) = repo {
            let valid = repo.split_once('/').is_some_and(|(owner, name)| {
                printable(owner) && printable(name) && !name.contains('/')
            });
            if !valid {
                return Err(KeyError::Invalid(format!(
                    "invalid repository `{}`: expected `owner/name`, e.g. `acme/storefront`",
                    repo.escape_debug()
                )));
            }
        }
        let name = name.map(str::trim);
        if let Some(name) = name
            && (name.is_empty() || name.chars().any(char::is_control))
        {
            return Err(KeyError::Invalid(
                "a key name must be non-empty printable text".to_owned(),
            ));
        }
        Ok(KeyRequest {
            person: person.to_owned(),
            repo: repo.map(str::to_owned),
            name: name.map(str::to_owned),
        })
    }
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

/// Issues a key for `request` and records `key.created` by `actor`.
pub async fn issue(
    store: &Store,
    audit: &AuditLog,
    actor: &str,
    request: KeyRequest,
) -> Result<IssuedKey, KeyError> {
    let key = crate::token::generate_developer_key();
    let hash = crate::token::hash_token(&key);
    let mut attempts = 0;
    let record = loop {
        attempts += 1;
        let name = match &request.name {
            Some(name) => name.clone(),
            None => default_name(&store.list_tokens().await?, &request.person),
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
            // Another issue took the generated name first: pick the next one.
            Err(StoreError::Duplicate { what, .. })
                if request.name.is_none() && what != "token hash" && attempts < NAME_ATTEMPTS => {}
            Err(StoreError::Duplicate { .. }) => return Err(KeyError::NameTaken(name)),
            Err(e) => return Err(e.into()),
        }
    };
    if let Err(e) = audit.record(event(actor, "key.created", &record)).await {
        let _ = store.revoke_token(TokenKind::Developer, &record.name).await;
        return Err(e.into());
    }
    Ok(IssuedKey { record, key })
}

/// Revokes the active key named `name` and records `key.revoked` by `actor`.
pub async fn revoke(
    store: &Store,
    audit: &AuditLog,
    actor: &str,
    name: &str,
) -> Result<TokenRecord, KeyError> {
    let active = store
        .list_tokens()
        .await?
        .into_iter()
        .find(|k| k.kind == TokenKind::Developer && k.name == name && k.revoked_at.is_none());
    let revoked = match active {
        Some(key) => store
            .revoke_token(TokenKind::Developer, name)
            .await?
            .then_some(key),
        None => None,
    };
    let key = revoked.ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
    audit.record(event(actor, "key.revoked", &key)).await?;
    Ok(key)
}

/// Developer keys, newest last (never the keys or their hashes).
pub async fn list(store: &Store) -> Result<Vec<TokenRecord>, KeyError> {
    let mut keys = store.list_tokens().await?;
    keys.retain(|k| k.kind == TokenKind::Developer);
    Ok(keys)
}

/// A developer key lifecycle event: never the key or its hash.
fn event(actor: &str, event: &str, key: &TokenRecord) -> Record {
    Record::new(
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
    }))
}
