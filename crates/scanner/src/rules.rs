//! aigov's built-in secret rules, written from the providers' public token formats. Each rule
//! carries examples that must match and near-misses that must not; a test checks all of them.

use crate::allow::Allowlist;

/// A rule as written in this table; turned into a [`Rule`] and compiled by [`crate::Scanner`].
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRule {
    pub id: &'static str,
    /// Placeholder type: `[REDACTED:<family>]`.
    pub family: &'static str,
    pub description: &'static str,
    /// Literal strings of which one must occur for the regex to be tried.
    pub keywords: &'static [&'static str],
    /// Whether the keywords match in any case (`password`, `Password`, `PASSWORD`). Token
    /// prefixes such as `ghp_` are exact, which keeps the keyword search several times faster.
    pub ignore_case: bool,
    /// Byte regex, Unicode off. Group 1, if present, is the secret; else the whole match.
    pub regex: &'static str,
    /// Minimum Shannon entropy (bits per byte) of the secret, if checked.
    pub entropy: Option<f32>,
    /// How far past a keyword a match may extend, in bytes.
    pub window: usize,
    pub confidence: Confidence,
    pub positives: &'static [&'static str],
    pub negatives: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// The window of rules whose match lies within one line (up to this many bytes).
pub(crate) const LINE: usize = 512;

/// Where a rule's regex is tried once one of its keywords is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// From the start of the keyword's line (at most 256 bytes back) to this many bytes past
    /// the keyword.
    Bytes(usize),
    /// The rest of the keyword's line (at most [`LINE`] bytes).
    Line,
    /// The whole text (gitleaks' semantics: a keyword anywhere enables the rule everywhere).
    Whole,
}

/// A secret rule: built in, or loaded from a gitleaks-format file.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    /// Placeholder type: `[REDACTED:<family>]`.
    pub family: String,
    pub description: String,
    /// Literal strings of which one must occur for the regex to be tried. Empty: the rule
    /// runs on every text (slow; allowed for user rules).
    pub keywords: Vec<String>,
    pub ignore_case: bool,
    /// Byte regex, Unicode off where it compiles so. `None` for path-only rules.
    pub regex: Option<String>,
    /// Capture group holding the secret; `None`: the first non-empty group, else the match.
    pub secret_group: Option<usize>,
    /// The secret's Shannon entropy (bits per byte) must exceed this.
    pub entropy: Option<f32>,
    /// Regex the file path must match for the rule to apply (gitleaks' `path`).
    pub path: Option<String>,
    /// gitleaks' rule for ids starting with `generic`: with an entropy threshold, the secret
    /// must also contain a digit.
    pub require_digit: bool,
    pub window: Window,
    pub confidence: Confidence,
    pub allowlists: Vec<Allowlist>,
    pub tags: Vec<String>,
}

impl From<&BuiltinRule> for Rule {
    fn from(b: &BuiltinRule) -> Rule {
        Rule {
            id: b.id.to_owned(),
            family: b.family.to_owned(),
            description: b.description.to_owned(),
            keywords: b.keywords.iter().map(|k| (*k).to_owned()).collect(),
            ignore_case: b.ignore_case,
            regex: Some(b.regex.to_owned()),
            secret_group: None,
            entropy: b.entropy,
            path: None,
            require_digit: false,
            window: match b.window {
                LINE => Window::Line,
                n => Window::Bytes(n),
            },
            confidence: b.confidence,
            allowlists: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// The built-in rules as owned [`Rule`]s.
pub fn builtin_rules() -> Vec<Rule> {
    BUILTIN.iter().map(Rule::from).collect()
}

pub const BUILTIN: &[BuiltinRule] = &[
    BuiltinRule {
        id: "aws-access-key-id",
        family: "aws-access-key",
        description: "AWS access key id",
        keywords: &["AKIA", "ASIA", "ABIA", "ACCA"],
        ignore_case: false,
        regex: r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        entropy: Some(3.0),
        window: 24,
        confidence: Confidence::High,
        positives: &[
            "aws_access_key_id = AKIAZ3MKQ7T2X4PLW5NB",
            "key: ASIAQ2W3E4R5T6Y7U2I3",
        ],
        negatives: &[
            "AKIAZ3MKQ7T2X4PLW5N",
            "XAKIAZ3MKQ7T2X4PLW5NB",
            "AKIAAAAAAAAAAAAAAAAA",
        ],
    },
    BuiltinRule {
        id: "aws-secret-access-key",
        family: "aws-secret-key",
        description: "AWS secret access key next to its name",
        keywords: &["aws"],
        ignore_case: true,
        regex: r#"(?i)aws.{0,20}?(?:secret|sk|private).{0,20}?['"=:\s]{1,5}([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        entropy: Some(4.0),
        window: LINE,
        confidence: Confidence::High,
        positives: &["aws_secret_access_key = 'q3Zt8Vw1Lr9Xk2Pm7Nc4Hb6Yd0Gf5Js8Ea1Ru3Wo'"],
        negatives: &[
            "aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']",
            "aws_secret_access_key = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
        ],
    },
    BuiltinRule {
        id: "github-token",
        family: "github-token",
        description: "GitHub personal access, OAuth, user-to-server, server-to-server or refresh token",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        ignore_case: false,
        regex: r"\b(gh[pousr]_[A-Za-z0-9]{36})\b",
        entropy: Some(3.5),
        window: 48,
        confidence: Confidence::High,
        positives: &["GITHUB_TOKEN=ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u"],
        negatives: &[
            "ghp_R8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ],
    },
    BuiltinRule {
        id: "github-fine-grained-token",
        family: "github-token",
        description: "GitHub fine-grained personal access token",
        keywords: &["github_pat_"],
        ignore_case: false,
        regex: r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        entropy: Some(4.0),
        window: 100,
        confidence: Confidence::High,
        positives: &[
            "token: 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",
        ],
        negatives: &["github_pat_short_one"],
    },
    BuiltinRule {
        id: "gitlab-token",
        family: "gitlab-token",
        description: "GitLab personal, project or group access token",
        keywords: &["glpat-"],
        ignore_case: false,
        regex: r"\b(glpat-[A-Za-z0-9_\-]{20})(?:[^A-Za-z0-9_\-]|$)",
        entropy: Some(3.5),
        window: 32,
        confidence: Confidence::High,
        positives: &["GITLAB_TOKEN=glpat-Xk2P9mQ4vL7tB1nC5wY8"],
        negatives: &["glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-Xk2P9mQ4vL7tB1nC5wY8zz"],
    },
    BuiltinRule {
        id: "slack-token",
        family: "slack-token",
        description: "Slack bot, user, app or refresh token",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
        ignore_case: false,
        regex: r"\b(xox[bpares]-[0-9]{8,13}-[0-9A-Za-z-]{8,80})\b",
        entropy: Some(3.0),
        window: 120,
        confidence: Confidence::High,
        positives: &["SLACK_BOT_TOKEN=xoxb-238409238402-2384092384023-Zk2mQ9vL4xT7nB1cW5yH3jF6"],
        negatives: &["xoxb-not-a-token", "xoxb-"],
    },
    BuiltinRule {
        id: "slack-webhook",
        family: "slack-webhook",
        description: "Slack incoming webhook URL",
        keywords: &["hooks.slack.com"],
        ignore_case: false,
        regex: r"(https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24})",
        entropy: None,
        window: 128,
        confidence: Confidence::High,
        positives: &[
            "url = \"https://hooks.slack.com/services/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\"",
        ],
        negatives: &["https://hooks.slack.com/services/T000/B000/XXXX"],
    },
    BuiltinRule {
        id: "stripe-key",
        family: "stripe-key",
        description: "Stripe secret or restricted key",
        keywords: &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        ignore_case: false,
        regex: r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        entropy: Some(3.5),
        window: 120,
        confidence: Confidence::High,
        positives: &["stripe.api_key = \"sk_live_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H\""],
        negatives: &["sk_live_short", "pk_live_51Hq8ZkLm2Qp9Vx4Tb7Nc1Wy5Dj3Fg6H"],
    },
    BuiltinRule {
        id: "openai-api-key",
        family: "openai-api-key",
        description: "OpenAI API key",
        keywords: &["T3BlbkFJ", "sk-proj-", "sk-svcacct-", "sk-admin-"],
        ignore_case: false,
        regex: r"\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{58,180}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))(?:[^A-Za-z0-9_\-]|$)",
        entropy: Some(4.0),
        window: 220,
        confidence: Confidence::High,
        positives: &[
            "OPENAI_API_KEY=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",
            "key = \"sk-proj-Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u\"",
        ],
        negatives: &[
            "sk-proj-short",
            "sk-Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2m",
        ],
    },
    BuiltinRule {
        id: "anthropic-api-key",
        family: "anthropic-api-key",
        description: "Anthropic API or admin key",
        keywords: &["sk-ant-"],
        ignore_case: false,
        regex: r"\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA)(?:[^A-Za-z0-9_\-]|$)",
        entropy: Some(4.0),
        window: 120,
        confidence: Confidence::High,
        positives: &[
            "ANTHROPIC_API_KEY=sk-ant-api03-Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2mQ9vL4xT7nB1cW5yH3AA",
        ],
        negatives: &["sk-ant-api03-too-short-AA"],
    },
    BuiltinRule {
        id: "google-api-key",
        family: "google-api-key",
        description: "Google (GCP, Firebase, Maps) API key",
        keywords: &["AIza"],
        ignore_case: false,
        regex: r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
        entropy: Some(3.5),
        window: 48,
        confidence: Confidence::High,
        positives: &["apiKey: \"AIzaSyZk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8\""],
        negatives: &["AIzaSyShort", "AIzaxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    },
    BuiltinRule {
        id: "sendgrid-api-key",
        family: "sendgrid-api-key",
        description: "SendGrid API key",
        keywords: &["SG."],
        ignore_case: false,
        regex: r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        entropy: Some(4.0),
        window: 80,
        confidence: Confidence::High,
        positives: &[
            "SENDGRID_API_KEY=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",
        ],
        negatives: &["SG.short.key"],
    },
    BuiltinRule {
        id: "npm-token",
        family: "npm-token",
        description: "npm access token",
        keywords: &["npm_"],
        ignore_case: false,
        regex: r"\b(npm_[A-Za-z0-9]{36})\b",
        entropy: Some(3.5),
        window: 48,
        confidence: Confidence::High,
        positives: &["//registry.npmjs.org/:_authToken=npm_Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8"],
        negatives: &[
            "npm_config_cache",
            "npm_Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8x",
        ],
    },
    BuiltinRule {
        id: "pypi-token",
        family: "pypi-token",
        description: "PyPI upload token",
        keywords: &["pypi-AgEIcHlwaS5vcmc"],
        ignore_case: false,
        regex: r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,200})",
        entropy: Some(4.0),
        window: 240,
        confidence: Confidence::High,
        positives: &[
            "password = pypi-AgEIcHlwaS5vcmcCJGZk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5y",
        ],
        negatives: &["pypi-AgEIcHlwaS5vcmc"],
    },
    BuiltinRule {
        id: "huggingface-token",
        family: "huggingface-token",
        description: "Hugging Face access token",
        keywords: &["hf_"],
        ignore_case: false,
        regex: r"\b(hf_[A-Za-z]{34})\b",
        entropy: Some(3.5),
        window: 40,
        confidence: Confidence::High,
        positives: &["HF_TOKEN=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"],
        negatives: &["hf_hub_download", "hf_ZkmQvLxTnBcWyHjFdSaPeGuRzKmQvLxTnBx"],
    },
    BuiltinRule {
        id: "azure-storage-key",
        family: "azure-storage-key",
        description: "Azure storage account key in a connection string",
        keywords: &["AccountKey="],
        ignore_case: false,
        regex: r"AccountKey=([A-Za-z0-9+/]{86}==)",
        entropy: Some(4.5),
        window: 110,
        confidence: Confidence::High,
        positives: &[
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8Zk2mQ9vL4xT7nB==;",
        ],
        negatives: &["AccountKey=<your-key>"],
    },
    BuiltinRule {
        id: "private-key",
        family: "private-key",
        description: "PEM or OpenSSH private key block",
        keywords: &["PRIVATE KEY"],
        ignore_case: false,
        regex: r"(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----[\sA-Za-z0-9+/=:,-]{64,}?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)",
        entropy: None,
        window: 16384,
        confidence: Confidence::High,
        positives: &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1c\nW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u==\n-----END RSA PRIVATE KEY-----",
        ],
        negatives: &[
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzk2mQ9vL4xT7nB1cW5yH3jF6dS0\n-----END PUBLIC KEY-----",
            "if line.startswith('-----BEGIN RSA PRIVATE KEY-----'):",
        ],
    },
    BuiltinRule {
        id: "jwt",
        family: "jwt",
        description: "JSON Web Token",
        keywords: &["eyJ"],
        ignore_case: false,
        regex: r"\b(eyJ[A-Za-z0-9_-]{10,}={0,2}\.eyJ[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_-]{10,}={0,2})",
        entropy: Some(3.0),
        window: 4096,
        confidence: Confidence::Medium,
        positives: &[
            "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0.Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8",
        ],
        negatives: &["eyJhbGciOiJIUzI1NiJ9 alone"],
    },
    BuiltinRule {
        id: "connection-string-password",
        family: "connection-string",
        description: "URL or connection string with an embedded password",
        keywords: &["://"],
        ignore_case: false,
        // Userinfo as RFC 3986 allows it unencoded: no `[]{}|\^` or backtick.
        regex: r#"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:@/'"<>\[\]{}|\\^`]{1,64}:([^\s:@/'"<>$\[\]{}|\\^`]{6,128})@[A-Za-z0-9.\-_\[\]]+"#,
        entropy: Some(2.5),
        window: LINE,
        confidence: Confidence::High,
        positives: &[
            "DATABASE_URL=postgres://app:Zk2mQ9vL4x@db.internal:5432/app",
            "mongodb+srv://svc:T7nB1cW5yH3j@cluster0.mongodb.net",
        ],
        negatives: &[
            "postgres://app@db.internal/app",
            "https://example.com/a:b@c",
            "postgres://user:${DB_PASSWORD}@db/app",
        ],
    },
    BuiltinRule {
        id: "generic-secret-assignment",
        family: "generic-secret",
        description: "a password, secret, token or API key assigned a literal",
        keywords: &[
            "password",
            "passwd",
            "pwd",
            "secret",
            "token",
            "api_key",
            "apikey",
            "api-key",
            "access_key",
        ],
        ignore_case: true,
        regex: r#"(?i)(?:password|passwd|pwd|secret|token|api_?key|api-key|access_?key)[A-Za-z0-9_.\-]{0,20}["']?\s{0,3}(?::=|=>|=|:)\s{0,3}["']([^"'\s]{8,128})["']"#,
        entropy: Some(3.3),
        window: LINE,
        confidence: Confidence::Medium,
        positives: &[
            "db_password = \"Zk2mQ9vL4xT7\"",
            "\"apiKey\": \"q3Zt8Vw1Lr9Xk2Pm\"",
            "client_secret: 'T7nB1cW5yH3jF6dS'",
        ],
        negatives: &[
            "password = \"password\"",
            "token = get_token()",
            "password = \"${DB_PASSWORD}\"",
            "secret_name = \"prod/db\"",
        ],
    },
];
