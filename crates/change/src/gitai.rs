//! Git AI authorship logs: the notes the `git-ai` tool attaches under `refs/notes/ai`
//! (Git AI Standard v3.0.0, schema `authorship/3.0.0`).
//!
//! A log is an attestation section, a line `---`, and a JSON metadata section:
//!
//! ```text
//! src/main.rs
//!   abcd1234abcd1234 1-10,15-20
//! "src/my file.rs"
//!   abcd1234abcd1234 3
//! ---
//! {"schema_version": "authorship/3.0.0", "base_commit_sha": "…", "prompts": {"abcd1234abcd1234":
//!   {"agent_id": {"tool": "cursor", "id": "…", "model": "…"}, …}}}
//! ```
//!
//! Only what attribution needs is read; prompt transcripts (`messages`) are skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attribution::{Attribution, Evidence, tool_id};

/// A parsed authorship log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitAiNote {
    /// `authorship/3.0.0`.
    pub schema_version: String,
    /// The commit the log was computed against.
    pub base_commit_sha: String,
    /// Version of `git-ai` that wrote it.
    pub git_ai_version: Option<String>,
    /// AI-authored lines per file.
    pub files: Vec<FileLines>,
    /// The AI sessions, by hash, in hash order.
    pub sessions: Vec<Session>,
}

/// The lines of one file each session wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileLines {
    /// Path in the repository.
    pub path: String,
    /// Session hash and its inclusive 1-based line ranges.
    pub entries: Vec<(String, Vec<(u32, u32)>)>,
}

/// One AI session (a prompt record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The session hash the attestation section refers to.
    pub hash: String,
    /// The tool as the log names it (`cursor`, `claude`, `copilot`).
    pub tool: String,
    /// The model.
    pub model: Option<String>,
    /// The human who prompted it (`Name <email>`).
    pub human_author: Option<String>,
    /// Lines of this session in the final commit.
    pub accepted_lines: Option<u64>,
}

/// Why an authorship log cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitAiError {
    /// No `---` line separates the two sections.
    #[error("authorship log has no `---` line between attestations and metadata")]
    NoDivider,
    /// A line of the attestation section is malformed.
    #[error("authorship log line {line}: {message}")]
    Line {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The metadata is not the expected JSON.
    #[error("authorship log metadata: {0}")]
    Metadata(String),
    /// A schema version other than `authorship/3.*`.
    #[error("unsupported authorship log schema `{0}`: expected `authorship/3.x`")]
    Version(String),
    /// The attestation section names a session the metadata does not have.
    #[error("authorship log line {line}: session `{hash}` is not in the metadata's `prompts`")]
    UnknownSession {
        /// 1-based line.
        line: usize,
        /// The session hash.
        hash: String,
    },
}

#[derive(Deserialize)]
struct Metadata {
    schema_version: String,
    base_commit_sha: String,
    git_ai_version: Option<String>,
    prompts: BTreeMap<String, Prompt>,
}

#[derive(Deserialize)]
struct Prompt {
    agent_id: AgentId,
    human_author: Option<String>,
    accepted_lines: Option<u64>,
}

#[derive(Deserialize)]
struct AgentId {
    tool: String,
    model: Option<String>,
}

fn parse_ranges(s: &str) -> Option<Vec<(u32, u32)>> {
    s.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
            (a >= 1 && a <= b).then_some((a, b))
        })
        .collect()
}

/// Parses an authorship log (the text of a note under `refs/notes/ai`).
pub fn parse_git_ai_note(note: &str) -> Result<GitAiNote, GitAiError> {
    let lines: Vec<&str> = note.lines().collect();
    let divider = lines
        .iter()
        .position(|l| *l == "---")
        .ok_or(GitAiError::NoDivider)?;
    let json = lines[divider + 1..].join("\n");
    let meta: Metadata =
        serde_json::from_str(&json).map_err(|e| GitAiError::Metadata(e.to_string()))?;
    if !meta.schema_version.starts_with("authorship/3.") {
        return Err(GitAiError::Version(meta.schema_version));
    }
    let mut files: Vec<FileLines> = Vec::new();
    for (i, line) in lines[..divider].iter().enumerate() {
        let n = i + 1;
        let bad = |message: &str| GitAiError::Line {
            line: n,
            message: message.to_owned(),
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(entry) = line
            .strip_prefix("  ")
            .filter(|e| !e.starts_with([' ', '\t']))
        {
            let file = files
                .last_mut()
                .ok_or_else(|| bad("attestation entry before any file path"))?;
            let (hash, ranges) = entry
                .split_once(' ')
                .ok_or_else(|| bad("expected `<session hash> <line ranges>`"))?;
            if !(hash.len() == 16 || hash.len() == 7)
                || !hash.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(bad(&format!(
                    "session hash `{hash}` is not 16 (or 7) hexadecimal digits"
                )));
            }
            if !meta.prompts.contains_key(hash) {
                return Err(GitAiError::UnknownSession {
                    line: n,
                    hash: hash.to_owned(),
                });
            }
            let ranges = parse_ranges(ranges).ok_or_else(|| {
                bad(&format!(
                    "line ranges `{ranges}` are not like `1-4,9,12-20` (1-based, start ≤ end)"
                ))
            })?;
            file.entries.push((hash.to_owned(), ranges));
        } else if line.starts_with([' ', '\t']) {
            return Err(bad(
                "attestation entries are indented by exactly two spaces",
            ));
        } else {
            let path = match line.strip_prefix('"') {
                Some(rest) => rest
                    .strip_suffix('"')
                    .ok_or_else(|| bad("quoted file path without closing `\"`"))?,
                None => line,
            };
            files.push(FileLines {
                path: path.to_owned(),
                entries: Vec::new(),
            });
        }
    }
    let sessions = meta
        .prompts
        .into_iter()
        .map(|(hash, p)| Session {
            hash,
            tool: p.agent_id.tool,
            model: p.agent_id.model,
            human_author: p.human_author,
            accepted_lines: p.accepted_lines,
        })
        .collect();
    Ok(GitAiNote {
        schema_version: meta.schema_version,
        base_commit_sha: meta.base_commit_sha,
        git_ai_version: meta.git_ai_version,
        files,
        sessions,
    })
}

impl GitAiNote {
    /// One attribution per distinct tool of the log's sessions ([`Evidence::GitAiNote`]), the
    /// tool mapped to its inventory id where known (`claude` → `claude-code`).
    pub fn attributions(&self) -> Vec<Attribution> {
        let mut out: Vec<Attribution> = Vec::new();
        for s in &self.sessions {
            let tool = tool_id(&s.tool).map_or_else(|| s.tool.clone(), str::to_owned);
            if !out.iter().any(|a| a.tool == tool) {
                out.push(Attribution {
                    tool,
                    evidence: Evidence::GitAiNote,
                    line: None,
                });
            }
        }
        out
    }
}
