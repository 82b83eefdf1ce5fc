//! AI attribution from what coding tools actually write into commits: co-author trailers, bot
//! authors, aider's author suffix, `Assisted-by:`/`Generated-by:`/`Made-with:` trailers, Claude
//! Code's footer; and shadow-AI findings for tools the inventory does not approve.
//!
//! Trailers are read as git reads them (`git interpret-trailers`, `%(trailers)`): only from the
//! last paragraph of the message, never from the subject paragraph; keys are case-insensitive;
//! lines starting with whitespace continue the previous trailer. A paragraph counts as trailers
//! if all its lines are trailers, or if it has a git-generated line (`Signed-off-by: `,
//! `(cherry picked from commit `) and at least a quarter of its lines are trailers.

use model::{AiTool, ToolStatus};
use serde::{Deserialize, Serialize};

/// A commit as attribution needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Commit SHA.
    pub sha: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Committer name (empty when unknown).
    pub committer_name: String,
    /// Committer email (empty when unknown).
    pub committer_email: String,
    /// Full message.
    pub message: String,
}

/// Why a commit is attributed to a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A `Co-authored-by: Name <email>` trailer with a tool's identity.
    CoAuthoredBy {
        /// Co-author name.
        name: String,
        /// Co-author email.
        email: String,
    },
    /// The author (or committer) is a tool's bot account or agent identity.
    BotAuthor {
        /// The login (`copilot-swe-agent[bot]`) or, for agent identities known by email, the
        /// email.
        login: String,
    },
    /// aider's ` (aider)` suffix on the author or committer name.
    AuthorSuffix,
    /// An `Assisted-by:` trailer (Linux kernel `agent:model [tools]`, or free text).
    AssistedBy {
        /// The trailer's value.
        value: String,
    },
    /// A `Generated-by:` trailer (Apache Software Foundation style).
    GeneratedBy {
        /// The trailer's value.
        value: String,
    },
    /// A tool's footer line, such as `🤖 Generated with [Claude Code](…)`.
    Footer {
        /// The line, trimmed.
        line: String,
    },
    /// Cursor's `Made-with:` trailer.
    MadeWith {
        /// The trailer's value.
        value: String,
    },
    /// A Git AI authorship log (`refs/notes/ai`) names the tool.
    GitAiNote,
}

/// One piece of evidence that a tool took part in a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// Inventory tool id (`claude-code`) when recognised, else the name the commit gives
    /// (`Gemini`), which no inventory id matches unless the inventory uses that name.
    pub tool: String,
    /// What was found.
    pub evidence: Evidence,
    /// 1-based line of the message it was found on; `None` for author evidence.
    pub line: Option<usize>,
}

/// A trailer of a commit message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trailer {
    /// Key as written (`Co-Authored-By`).
    pub key: String,
    /// Value, trimmed, with continuation lines joined by a space.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// Prefixes git itself writes; a paragraph holding one needs only 25% trailer lines.
const GIT_GENERATED: &[&str] = &["Signed-off-by: ", "(cherry picked from commit "];

/// Byte offset of the `:` separator if `line` is `token[ws]:…` with `token` made of ASCII
/// alphanumerics and `-` (git's `find_separator`).
fn separator(line: &str) -> Option<usize> {
    let mut whitespace = false;
    for (i, c) in line.char_indices() {
        if c == ':' {
            return (i > 0).then_some(i);
        }
        if !whitespace && (c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        if i > 0 && (c == ' ' || c == '\t') {
            whitespace = true;
            continue;
        }
        return None;
    }
    None
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The trailers of a commit message, following git's rules (see the module documentation).
pub fn trailers(message: &str) -> Vec<Trailer> {
    let lines: Vec<&str> = message
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let Some(end) = lines.iter().rposition(|l| !is_blank(l)) else {
        return Vec::new();
    };
    let Some(title) = lines.iter().position(|l| !is_blank(l)) else {
        return Vec::new();
    };
    let start = match lines[..end].iter().rposition(|l| is_blank(l)) {
        Some(blank) if blank > title => blank + 1,
        _ => return Vec::new(), // the only paragraph is the subject
    };
    let block = &lines[start..=end];

    let (mut trailer_lines, mut other_lines, mut recognised) = (0usize, 0usize, false);
    let mut previous_is_trailer = false;
    for line in block {
        if line.starts_with([' ', '\t']) {
            if !previous_is_trailer {
                other_lines += 1;
            }
            continue;
        }
        if GIT_GENERATED.iter().any(|p| line.starts_with(p)) {
            recognised = true;
            trailer_lines += 1;
            previous_is_trailer = true;
        } else if separator(line).is_some() {
            trailer_lines += 1;
            previous_is_trailer = true;
        } else {
            other_lines += 1;
            previous_is_trailer = false;
        }
    }
    let is_block =
        trailer_lines > 0 && (other_lines == 0 || (recognised && trailer_lines * 3 >= other_lines));
    if !is_block {
        return Vec::new();
    }

    let mut out: Vec<Trailer> = Vec::new();
    let mut open = false;
    for (i, line) in block.iter().enumerate() {
        if line.starts_with([' ', '\t']) {
            if let (true, Some(last)) = (open, out.last_mut()) {
                let more = line.trim();
                if !more.is_empty() {
                    if !last.value.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(more);
                }
            }
            continue;
        }
        open = false;
        if let Some(sep) = separator(line) {
            out.push(Trailer {
                key: line[..sep].trim_end().to_owned(),
                value: line[sep + 1..].trim().to_owned(),
                line: start + i + 1,
            });
            open = true;
        }
    }
    out
}

/// Names tools give themselves in `Assisted-by:`, `Generated-by:`, `Made-with:` and Git AI
/// notes, lowercase, longest first, with the inventory id each stands for.
const TOOL_NAMES: &[(&str, &str)] = &[
    ("github copilot", "copilot"),
    ("openai codex", "codex"),
    ("claude code", "claude-code"),
    ("claude-code", "claude-code"),
    ("claude_code", "claude-code"),
    ("copilot", "copilot"),
    ("claude", "claude-code"),
    ("cursor", "cursor"),
    ("codex", "codex"),
    ("aider", "aider"),
    ("devin", "devin"),
];

/// The inventory id for a tool name (`Claude Code 1.0`, `GitHub Copilot`, `cursor`), if known.
///
/// The name must start with a known name followed by nothing or by a non-alphanumeric
/// character, so `Cursory` is not Cursor.
pub fn tool_id(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_lowercase();
    TOOL_NAMES.iter().find_map(|(known, id)| {
        let rest = lower.strip_prefix(known)?;
        match rest.chars().next() {
            None => Some(*id),
            Some(c) if !c.is_alphanumeric() => Some(*id),
            _ => None,
        }
    })
}

/// `Name <email>` → (name, email); email lowercased.
fn identity(value: &str) -> Option<(&str, String)> {
    let (name, rest) = value.rsplit_once('<')?;
    let email = rest.strip_suffix('>')?.trim();
    Some((name.trim(), email.to_ascii_lowercase()))
}

/// The GitHub login of a `users.noreply.github.com` address (`123+Copilot@…` → `Copilot`).
fn noreply_login(email: &str) -> Option<&str> {
    let local = email.strip_suffix("@users.noreply.github.com")?;
    Some(local.split_once('+').map_or(local, |(_, login)| login))
}

/// The tool a co-author identity belongs to.
fn co_author_tool(name: &str, email: &str) -> Option<&'static str> {
    match email {
        "noreply@anthropic.com" => return Some("claude-code"),
        "copilot@github.com" => return Some("copilot"),
        "cursoragent@cursor.com" => return Some("cursor"),
        "aider@aider.chat" => return Some("aider"),
        "noreply@openai.com" => return Some("codex"),
        _ => {}
    }
    if email.ends_with("@anthropic.com") && name.to_lowercase().starts_with("claude") {
        return Some("claude-code");
    }
    bot_tool(noreply_login(email)?)
}

/// GitHub bot and agent logins of AI tools, lowercase.
const BOTS: &[(&str, &str)] = &[
    ("copilot", "copilot"),
    ("copilot-swe-agent[bot]", "copilot"),
    ("copilot-swe-agent", "copilot"),
    ("devin-ai-integration[bot]", "devin"),
    ("claude[bot]", "claude-code"),
];

fn bot_tool(login: &str) -> Option<&'static str> {
    let login = login.to_ascii_lowercase();
    BOTS.iter().find(|(l, _)| *l == login).map(|(_, id)| *id)
}

/// The tool an author or committer identity is, with the evidence.
fn author_tool(name: &str, email: &str) -> Option<(&'static str, Evidence)> {
    let email = email.trim().to_ascii_lowercase();
    if let Some(tool) = bot_tool(name.trim()) {
        return Some((
            tool,
            Evidence::BotAuthor {
                login: name.trim().to_owned(),
            },
        ));
    }
    if let Some(login) = noreply_login(&email)
        && let Some(tool) = bot_tool(login)
    {
        return Some((
            tool,
            Evidence::BotAuthor {
                login: login.to_owned(),
            },
        ));
    }
    if email == "cursoragent@cursor.com" {
        return Some(("cursor", Evidence::BotAuthor { login: email }));
    }
    if name.trim_end().ends_with("(aider)") {
        return Some(("aider", Evidence::AuthorSuffix));
    }
    None
}

/// The agent named by an `Assisted-by:`/`Generated-by:` value: the part before the kernel
/// style's `:model`, without `[tool]` lists or `(…)` comments.
fn agent_name(value: &str) -> String {
    let agent = value.split(':').next().unwrap_or(value);
    let agent = agent.split(['[', '(', '<']).next().unwrap_or(agent);
    // Drop trailing versions: `Gemini CLI 0.9` → `Gemini CLI`, `Zed v0.150` → `Zed`.
    let mut words: Vec<&str> = agent.split_whitespace().collect();
    while words.len() > 1
        && words.last().is_some_and(|w| {
            let w = w.strip_prefix(['v', 'V']).unwrap_or(w);
            w.starts_with(|c: char| c.is_ascii_digit())
        })
    {
        words.pop();
    }
    words.join(" ")
}

fn named_tool(value: &str) -> Option<String> {
    let agent = agent_name(value);
    if agent.is_empty() {
        return None;
    }
    Some(tool_id(&agent).map_or(agent, str::to_owned))
}

/// Whether a line is a tool footer, and which tool.
fn footer_tool(line: &str) -> Option<&'static str> {
    let line = line.trim();
    let line = line.strip_prefix('🤖').map_or(line, str::trim_start);
    let rest = line.strip_prefix("Generated with [")?;
    let (name, after) = rest.split_once(']')?;
    if !after.starts_with('(') && !after.is_empty() {
        return None;
    }
    tool_id(name)
}

/// Everything in `commit` that attributes it to an AI tool, in message order after the author
/// evidence. A tool may appear more than once with different evidence.
pub fn attribute(commit: &Commit) -> Vec<Attribution> {
    let mut out = Vec::new();
    let author = author_tool(&commit.author_name, &commit.author_email);
    if let Some((tool, evidence)) = &author {
        out.push(Attribution {
            tool: (*tool).to_owned(),
            evidence: evidence.clone(),
            line: None,
        });
    }
    if let Some((tool, evidence)) = author_tool(&commit.committer_name, &commit.committer_email)
        && author.as_ref().is_none_or(|(t, _)| *t != tool)
    {
        out.push(Attribution {
            tool: tool.to_owned(),
            evidence,
            line: None,
        });
    }
    for (i, line) in commit.message.lines().enumerate() {
        if let Some(tool) = footer_tool(line) {
            out.push(Attribution {
                tool: tool.to_owned(),
                evidence: Evidence::Footer {
                    line: line.trim().to_owned(),
                },
                line: Some(i + 1),
            });
        }
    }
    for t in trailers(&commit.message) {
        let key = t.key.to_ascii_lowercase();
        let found = match key.as_str() {
            "co-authored-by" => identity(&t.value).and_then(|(name, email)| {
                let tool = co_author_tool(name, &email)?;
                Some((
                    tool.to_owned(),
                    Evidence::CoAuthoredBy {
                        name: name.to_owned(),
                        email,
                    },
                ))
            }),
            "assisted-by" => named_tool(&t.value).map(|tool| {
                (
                    tool,
                    Evidence::AssistedBy {
                        value: t.value.clone(),
                    },
                )
            }),
            "generated-by" => named_tool(&t.value).map(|tool| {
                (
                    tool,
                    Evidence::GeneratedBy {
                        value: t.value.clone(),
                    },
                )
            }),
            "made-with" => named_tool(&t.value).map(|tool| {
                (
                    tool,
                    Evidence::MadeWith {
                        value: t.value.clone(),
                    },
                )
            }),
            _ => None,
        };
        if let Some((tool, evidence)) = found {
            out.push(Attribution {
                tool,
                evidence,
                line: Some(t.line),
            });
        }
    }
    out
}

/// Why a tool used on a commit is shadow AI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShadowReason {
    /// The inventory has no tool with this id.
    Unknown,
    /// The inventory lists the tool, but not as approved (pilot or denied).
    NotApproved {
        /// Its status.
        status: ToolStatus,
    },
}

/// A tool used on a commit that the inventory does not approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowAi {
    /// The tool id or, if unrecognised, the name the commit gives.
    pub tool_name: String,
    /// Why it is shadow AI.
    pub reason: ShadowReason,
    /// The commit.
    pub commit: String,
}

/// Shadow-AI findings for one commit's attributions: one per tool that is not in `tools` or not
/// approved there, in order of first appearance. Whether a pilot tool is acceptable for the
/// commit's author is for policy to decide; it is reported with its status.
pub fn shadow_ai(
    commit_sha: &str,
    attributions: &[Attribution],
    tools: &[&AiTool],
) -> Vec<ShadowAi> {
    let mut out: Vec<ShadowAi> = Vec::new();
    for a in attributions {
        if out.iter().any(|s| s.tool_name == a.tool) {
            continue;
        }
        let reason = match tools.iter().find(|t| t.id == a.tool) {
            None => ShadowReason::Unknown,
            Some(t) if t.status == ToolStatus::Approved => continue,
            Some(t) => ShadowReason::NotApproved { status: t.status },
        };
        out.push(ShadowAi {
            tool_name: a.tool.clone(),
            reason,
            commit: commit_sha.to_owned(),
        });
    }
    out
}
