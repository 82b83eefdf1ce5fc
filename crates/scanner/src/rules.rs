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
    /// The secret must contain a digit (cuts identifiers such as `DEFAULT_TOKEN_NAME`).
    pub require_digit: bool,
    /// An assignment-shaped rule (`name = value`): names of metadata (`token_url`,
    /// `password_field`) and values that are URLs, file names or identifiers are skipped.
    pub assignment: bool,
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
    /// See [`BuiltinRule::assignment`].
    pub assignment: bool,
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
            require_digit: b.require_digit,
            assignment: b.assignment,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
        positives: &[
            "token: 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",
        ],
        negatives: &["github_pat_short_one"],
    },
    BuiltinRule {
        id: "gitlab-token",
        family: "gitlab-token",
        description: "GitLab personal, project or group access token (legacy or routable)",
        keywords: &["glpat-"],
        ignore_case: false,
        // Routable tokens (GitLab 17+): base64url payload, `.`, 2-char version, 7-char CRC.
        regex: r"\b(glpat-(?:[A-Za-z0-9_\-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}|[A-Za-z0-9_\-]{20}))(?:[^A-Za-z0-9_\-]|$)",
        entropy: Some(3.5),
        window: 320,
        confidence: Confidence::High,
        require_digit: false,
        assignment: false,
        positives: &[
            "GITLAB_TOKEN=glpat-Xk2P9mQ4vL7tB1nC5wY8",
            "token: glpat-Zk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2e.011x9k2ab",
        ],
        negatives: &["glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-Xk2P9mQ4vL7tB1nC5wY8zz"],
    },
    BuiltinRule {
        id: "slack-token",
        family: "slack-token",
        description: "Slack bot, user, app-level or refresh token",
        keywords: &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-",
        ],
        ignore_case: false,
        regex: r"\b(xox[bpares]-[0-9]{8,13}-[0-9A-Za-z-]{8,80}|xapp-\d-[A-Z0-9]{8,14}-\d{8,14}-[a-f0-9]{32,80})\b",
        entropy: Some(3.0),
        window: 120,
        confidence: Confidence::High,
        require_digit: false,
        assignment: false,
        positives: &[
            "SLACK_BOT_TOKEN=xoxb-238409238402-2384092384023-Zk2mQ9vL4xT7nB1cW5yH3jF6",
            "SLACK_APP_TOKEN=xapp-1-A04BX7Q2M9K-5842093847261-3f9a0c4e7b21d8f6a5c3e9b0d7f1a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6",
        ],
        negatives: &["xoxb-not-a-token", "xoxb-", "xapp-1-short"],
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        require_digit: false,
        assignment: false,
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
        regex: r"(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----[\sA-Za-z0-9+/=:,\\-]{64,}?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)",
        entropy: None,
        window: 16384,
        confidence: Confidence::High,
        require_digit: false,
        assignment: false,
        positives: &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzk2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1c\nW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u==\n-----END RSA PRIVATE KEY-----",
            // A service-account JSON file: newlines escaped inside the string.
            r#""private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDk2mQ9vL4xT7nB1c\nW5yH3jF6dS0aP2eG8uR8zK2mQ9vL4xT7nB1cW5yH3jF6dS0aP2eG8u==\n-----END PRIVATE KEY-----\n""#,
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
        require_digit: false,
        assignment: false,
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
        regex: r#"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:@/'"<>\[\]{}|\\^`]{0,64}:([^\s:@/'"<>$\[\]{}|\\^`]{6,128})@[A-Za-z0-9.\-_\[\]]+"#,
        entropy: Some(2.5),
        window: LINE,
        confidence: Confidence::High,
        require_digit: false,
        assignment: false,
        positives: &[
            "DATABASE_URL=postgres://app:Zk2mQ9vL4x@db.internal:5432/app",
            "mongodb+srv://svc:T7nB1cW5yH3j@cluster0.mongodb.net",
            "REDIS_URL=redis://:Zk2mQ9vL4xT7nB@cache.internal:6379/0",
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
        description: "a password, secret, token or API key assigned a quoted literal",
        keywords: GENERIC_KEYWORDS,
        ignore_case: true,
        // name ["'] ]? [type annotation] (= | := | => | : | ,) "value": assignments, JSON and
        // YAML, subscripts (`cfg["secret"] = …`), typed constants (`KEY: &str = …`), and
        // setter calls (`os.Setenv("API_TOKEN", …)`).
        regex: r#"(?i)(?:password|passwd|pwd|secret|token|api_?key|api-key|access_?key)[A-Za-z0-9_.\-]{0,20}["']?\]?(?:\s{0,3}:\s{0,3}(?:&(?:'static\s+)?str|[A-Za-z_][A-Za-z0-9_.\[\]]{0,30})|\s+string)?\s{0,3}(?::=|=>|=|:|,)\s{0,3}["']([^"'\s]{8,128})["']"#,
        entropy: Some(3.3),
        window: LINE,
        confidence: Confidence::Medium,
        require_digit: false,
        assignment: true,
        positives: &[
            "db_password = \"Zk2mQ9vL4xT7\"",
            "\"apiKey\": \"q3Zt8Vw1Lr9Xk2Pm\"",
            "client_secret: 'T7nB1cW5yH3jF6dS'",
            "SETTINGS[\"secret_key\"] = \"T7nB1cW5yH3jF6dS\"",
            "const SECRET_KEY: &str = \"T7nB1cW5yH3jF6dS\";",
            "api_key: str = \"q3Zt8Vw1Lr9Xk2Pm\"",
            "os.Setenv(\"API_TOKEN\", \"q3Zt8Vw1Lr9Xk2Pm\")",
            "token = os.environ.get(\"TOKEN\", \"q3Zt8Vw1Lr9Xk2Pm\")",
        ],
        negatives: &[
            "password = \"password\"",
            "token = get_token()",
            "password = \"${DB_PASSWORD}\"",
            "secret_name = \"prod/db\"",
            "token_url = \"https://oauth2.googleapis.com/token\"",
            "\"tokenizer_class\": \"GPT2Tokenizer\"",
            "'password' => 'required|string|min:8|confirmed'",
            "\"tokenizer_file\": \"tokenizer.json\"",
        ],
    },
    BuiltinRule {
        id: "generic-secret-unquoted",
        family: "generic-secret",
        description: "a password, secret, token or API key assigned an unquoted value (.env, .properties, YAML, shell)",
        keywords: GENERIC_KEYWORDS,
        ignore_case: true,
        // The value runs to the end of the line and has no quotes, spaces, `:`, `(` or `$`
        // (so URLs, calls and variable references do not match).
        regex: r#"(?im)(?:password|passwd|pwd|secret|token|api_?key|api-key|access_?key)[A-Za-z0-9_.\-]{0,20}[ \t]{0,3}[=:][ \t]{0,3}([A-Za-z0-9+_\-!@#%^&*~][A-Za-z0-9+/_\-!@#%^&*~=.]{7,127})[ \t]*\r?$"#,
        entropy: Some(3.3),
        window: LINE,
        confidence: Confidence::Medium,
        require_digit: true,
        assignment: true,
        positives: &[
            "admin.password=OP74kLm2Qp9Vx4Tb",
            "export API_TOKEN=q3Zt8Vw1Lr9Xk2Pm",
            "  db_password: Zk2mQ9vL4xT7\nnext: 1",
            "      - SECRET_KEY=T7nB1cW5yH3jF6dS",
        ],
        negatives: &[
            "token = self.token_value",
            "password = get_password()",
            "api_key = settings.API_KEY_V2",
            "pwd: /home/user/project2",
            "pub token: String,",
            "password=changeme123",
        ],
    },
];

/// The words of the generic rules.
const GENERIC_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "accesskey",
];
