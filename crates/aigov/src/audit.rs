//! `aigov audit key` and the dispatch of the `aigov audit` commands (`verify`, `export` and
//! `proof` are in `audit_offline`, `log` in `audit_log`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ledger::VerifierKey;
use store::StoreConfig;

use crate::{AuditCommand, exit};

pub(crate) fn run(command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify(args) => crate::audit_offline::verify(args),
        AuditCommand::Export(args) => crate::audit_offline::export(args),
        AuditCommand::Proof(args) => crate::audit_offline::proof(args),
        AuditCommand::Key { file, name } => key(&file, &name),
        AuditCommand::Log(args) => crate::audit_log::run(args),
    }
}

/// A verifier key given inline (`<name>+<id>+<key>`) or as `file:<path>`.
pub(crate) fn read_verifier(arg: &str) -> anyhow::Result<VerifierKey> {
    let text = match arg.strip_prefix("file:") {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read verifier key file `{path}`"))?,
        None => arg.to_owned(),
    };
    VerifierKey::parse(text.trim()).context("invalid verifier key")
}

pub(crate) fn store_config(db: &str) -> StoreConfig {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") || db.contains("host=") {
        StoreConfig::Postgres {
            url: db.to_owned(),
            password: std::env::var("PGPASSWORD").ok(),
        }
    } else {
        StoreConfig::Sqlite {
            path: PathBuf::from(db),
        }
    }
}

/// Loads the signer key file, creating it on first use, and prints the public verifier key.
fn key(file: &Path, name: &str) -> anyhow::Result<u8> {
    let signer = audit::load_or_create_key(file, name)?;
    println!("{}", signer.verifier());
    Ok(exit::OK)
}
