//! The log's Ed25519 signer key: from an `env:` or `file:` reference, or a file created with
//! a fresh random key on first start. The secret is never logged.

use std::io::Write as _;
use std::path::Path;

use ledger::SignerKey;

use crate::AuditError;

fn key_error(reference: &str, message: impl Into<String>) -> AuditError {
    AuditError::Key {
        reference: reference.to_owned(),
        message: message.into(),
    }
}

/// Resolves `env:VAR` (the variable holds the signer key string) or `file:PATH` (see
/// [`load_or_create_key`]; created with key name `name` if missing).
pub fn resolve_key(reference: &str, name: &str) -> Result<SignerKey, AuditError> {
    if let Some(var) = reference.strip_prefix("env:") {
        let value = std::env::var(var)
            .map_err(|_| key_error(reference, "the environment variable is not set"))?;
        SignerKey::parse(value.trim()).map_err(|e| key_error(reference, e.to_string()))
    } else if let Some(path) = reference.strip_prefix("file:") {
        load_or_create_key(Path::new(path), name)
    } else {
        Err(key_error(
            reference,
            "expected `env:<VARIABLE>` or `file:<path>`",
        ))
    }
}

/// Reads the signer key at `path`; if there is no file, generates a random key named
/// `name`, writes it (mode 0600, refusing to overwrite) and returns it.
pub fn load_or_create_key(path: &Path, name: &str) -> Result<SignerKey, AuditError> {
    let reference = format!("file:{}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return SignerKey::parse(text.trim()).map_err(|e| key_error(&reference, e.to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(key_error(&reference, e.to_string())),
    }
    let key = SignerKey::from_seed(name, rand::random::<[u8; 32]>())
        .map_err(|e| key_error(&reference, e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(path)?;
        file.write_all(key.to_secret_string().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    match write() {
        Ok(()) => {
            tracing::info!(path = %path.display(), verifier = %key.verifier(), "created audit signer key");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text =
                std::fs::read_to_string(path).map_err(|e| key_error(&reference, e.to_string()))?;
            SignerKey::parse(text.trim()).map_err(|e| key_error(&reference, e.to_string()))
        }
        Err(e) => Err(key_error(&reference, e.to_string())),
    }
}
