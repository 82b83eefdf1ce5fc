//! `aigov audit verify|key`: offline verification of the audit ledger, and the log's signer key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ledger::VerifierKey;
use store::{Store, StoreConfig};

use crate::{AuditCommand, exit};

pub(crate) fn run(command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify { db, origin, key } => {
            let key = read_verifier(&key)?;
            crate::runtime()?.block_on(verify(&db, &origin, &key))
        }
        AuditCommand::Key { file, name } => key(&file, &name),
    }
}

/// A verifier key given inline (`<name>+<id>+<key>`) or as `file:<path>`.
fn read_verifier(arg: &str) -> anyhow::Result<VerifierKey> {
    let text = match arg.strip_prefix("file:") {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read verifier key file `{path}`"))?,
        None => arg.to_owned(),
    };
    VerifierKey::parse(text.trim()).context("invalid verifier key")
}

fn store_config(db: &str) -> StoreConfig {
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

async fn verify(db: &str, origin: &str, key: &VerifierKey) -> anyhow::Result<u8> {
    let config = store_config(db);
    let store = Store::open(&config)
        .await
        .with_context(|| format!("cannot open {config}"))?;
    let report = audit::verify(&store, origin, key).await?;
    // Written, not printed: a closed pipe (`| head`) ends the listing instead of panicking.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} entries, root {}, {} checkpoints verified",
        report.head.size, report.head.root, report.checkpoints
    )?;
    if report.is_ok() {
        writeln!(out, "ok: the log verifies")?;
        return Ok(exit::OK);
    }
    for p in &report.problems {
        if writeln!(out, "problem: {p}").is_err() {
            break;
        }
    }
    Ok(exit::FAILURE)
}

/// Loads the signer key file, creating it on first use, and prints the public verifier key.
fn key(file: &Path, name: &str) -> anyhow::Result<u8> {
    let signer = audit::load_or_create_key(file, name)?;
    println!("{}", signer.verifier());
    Ok(exit::OK)
}
