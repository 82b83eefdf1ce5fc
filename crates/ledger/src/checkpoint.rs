//! C2SP `tlog-checkpoint`: the log's signed tree head, a signed note whose text is the
//! origin, the tree size, the base64 root hash and optional extension lines.

use crate::compact::TreeHead;
use crate::hash::Hash;
use crate::note::{Note, NoteError, SignerKey, VerifierKey};

/// A checkpoint's note text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity, e.g. `aigov.example.com/audit`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash of the first `size` entries.
    pub root: Hash,
    /// Opaque extension lines (not recommended by the spec; none by default).
    pub extensions: Vec<String>,
}

/// A checkpoint could not be parsed, built or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("checkpoint text must end with a newline")]
    MissingNewline,
    #[error("checkpoint needs an origin, a tree size and a root hash line")]
    TooFewLines,
    #[error("checkpoint line {line} is empty")]
    EmptyLine { line: usize },
    #[error("invalid checkpoint origin `{0}`: it must be one non-empty line")]
    InvalidOrigin(String),
    #[error("invalid tree size `{0}`: expected a decimal number without leading zeroes")]
    InvalidSize(String),
    #[error("invalid root hash `{0}`: expected canonical base64 of 32 bytes")]
    InvalidRoot(String),
    #[error("invalid extension line `{0}`: it must be one non-empty line")]
    InvalidExtension(String),
    #[error("checkpoint origin is `{found}`, expected `{expected}`")]
    OriginMismatch { expected: String, found: String },
}

fn is_line(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, head: TreeHead) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size: head.size,
            root: head.root,
            extensions: Vec::new(),
        }
    }

    /// Size and root.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// The note text: origin, size, root and extension lines, each ending in a newline.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        if !is_line(&self.origin) {
            return Err(CheckpointError::InvalidOrigin(self.origin.clone()));
        }
        if let Some(ext) = self.extensions.iter().find(|e| !is_line(e)) {
            return Err(CheckpointError::InvalidExtension(ext.clone()));
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses checkpoint note text (strictly: no empty lines, canonical size and root).
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines);
        }
        if let Some(i) = lines.iter().position(|l| l.is_empty()) {
            return Err(CheckpointError::EmptyLine { line: i + 1 });
        }
        let origin = lines[0];
        if !is_line(origin) {
            return Err(CheckpointError::InvalidOrigin(origin.to_owned()));
        }
        let size_str = lines[1];
        let canonical = size_str == "0"
            || (size_str.starts_with(|c: char| matches!(c, '1'..='9'))
                && size_str.bytes().all(|b| b.is_ascii_digit()));
        let size = canonical
            .then(|| size_str.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::InvalidSize(size_str.to_owned()))?;
        let root = Hash::from_base64(lines[2])
            .map_err(|_| CheckpointError::InvalidRoot(lines[2].to_owned()))?;
        let extensions: Vec<String> = lines[3..].iter().map(|l| (*l).to_owned()).collect();
        if let Some(ext) = extensions.iter().find(|e| !is_line(e)) {
            return Err(CheckpointError::InvalidExtension(ext.clone()));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The unsigned note, ready for [`Note::sign`] by the log and any cosigners.
    pub fn to_note(&self) -> Result<Note, CheckpointError> {
        Ok(Note::new(self.to_text()?)?)
    }

    /// The checkpoint signed by the log's key, as signed-note text.
    pub fn sign(&self, signer: &SignerKey) -> Result<String, CheckpointError> {
        let mut note = self.to_note()?;
        note.sign(signer)?;
        Ok(note.to_string())
    }

    /// Verifies a signed checkpoint: it must carry a valid signature by `log_key` (other
    /// signatures, e.g. witnesses', are ignored) and its origin must be `origin`.
    pub fn open(
        msg: &[u8],
        origin: &str,
        log_key: &VerifierKey,
    ) -> Result<Checkpoint, CheckpointError> {
        let note = Note::parse(msg)?;
        note.verify(std::slice::from_ref(log_key))?;
        let checkpoint = Checkpoint::parse_text(note.text())?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::OriginMismatch {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}
