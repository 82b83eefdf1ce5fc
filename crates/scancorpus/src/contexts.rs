//! Realistic contexts for planted secrets: assignments in Python, Rust, JavaScript and Go,
//! `.env` files, YAML and JSON configs, Dockerfiles, shell scripts, curl commands, credential
//! files, Markdown, comments. Each item renders as a few lines of a file of one kind.

use crate::layout::{Doc, Kind};
use crate::prng::{LOWER_DIGITS, Rng};
use crate::values::{self, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Py,
    Env,
    Yaml,
    Json,
    Js,
    Go,
    Rs,
    Docker,
    Shell,
    Md,
    AwsIni,
    Npmrc,
    Pypirc,
    Properties,
    Tf,
    Pem,
    HttpLog,
}

pub const ALL_KINDS: &[FileKind] = &[
    FileKind::Py,
    FileKind::Env,
    FileKind::Yaml,
    FileKind::Json,
    FileKind::Js,
    FileKind::Go,
    FileKind::Rs,
    FileKind::Docker,
    FileKind::Shell,
    FileKind::Md,
    FileKind::AwsIni,
    FileKind::Npmrc,
    FileKind::Pypirc,
    FileKind::Properties,
    FileKind::Tf,
    FileKind::Pem,
    FileKind::HttpLog,
];

/// A secret waiting to be written: its family and value (for connection strings and Azure
/// keys the value is the password or key; the context builds the rest).
#[derive(Debug, Clone)]
pub struct Item {
    pub family: &'static str,
    pub value: Value,
}

/// Which kinds of file a family's secrets are written into, with weights.
pub fn kinds_for(family: &str) -> &'static [(u32, FileKind)] {
    use FileKind::*;
    match family {
        "aws-access-key" | "aws-secret-key" => &[
            (20, Py),
            (20, Env),
            (15, AwsIni),
            (10, Yaml),
            (10, Json),
            (8, Js),
            (5, Go),
            (4, Rs),
            (4, Docker),
            (4, Shell),
        ],
        "private-key" => &[
            (30, Pem),
            (15, Py),
            (15, Yaml),
            (15, Json),
            (10, Env),
            (8, Go),
            (7, Rs),
        ],
        "jwt" => &[
            (20, Shell),
            (15, Md),
            (15, HttpLog),
            (15, Js),
            (15, Json),
            (10, Py),
            (5, Go),
            (5, Env),
        ],
        "connection-string" => &[
            (25, Env),
            (20, Py),
            (15, Yaml),
            (10, Json),
            (10, Js),
            (5, Go),
            (5, Rs),
            (5, Properties),
            (5, Docker),
        ],
        "generic-secret" => &[
            (20, Py),
            (10, Js),
            (12, Json),
            (14, Yaml),
            (14, Env),
            (5, Go),
            (5, Rs),
            (6, Properties),
            (4, Docker),
            (6, Shell),
            (4, Tf),
        ],
        "npm-token" => &[
            (35, Npmrc),
            (25, Env),
            (15, Yaml),
            (10, Shell),
            (10, Docker),
            (5, Json),
        ],
        "pypi-token" => &[
            (35, Pypirc),
            (25, Env),
            (20, Yaml),
            (10, Shell),
            (10, Docker),
        ],
        "slack-webhook" => &[
            (25, Env),
            (20, Py),
            (15, Shell),
            (15, Yaml),
            (10, Js),
            (10, Json),
            (5, Go),
        ],
        "azure-storage-key" => &[
            (30, Json),
            (25, Env),
            (15, Py),
            (10, Yaml),
            (10, Js),
            (5, Go),
            (5, Docker),
        ],
        _ => &[
            (20, Py),
            (20, Env),
            (12, Yaml),
            (10, Json),
            (10, Js),
            (6, Go),
            (5, Rs),
            (6, Docker),
            (7, Shell),
            (4, Md),
        ],
    }
}

/// Variable names under which a family's secrets are usually found (SCREAMING_SNAKE).
fn names(family: &str, variant: &str) -> &'static [&'static str] {
    match (family, variant) {
        ("aws-access-key", _) => &["AWS_ACCESS_KEY_ID"],
        ("aws-secret-key", _) => &["AWS_SECRET_ACCESS_KEY"],
        ("github-token", _) => &["GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GH_API_TOKEN"],
        ("gitlab-token", _) => &["GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN", "GL_TOKEN"],
        ("slack-token", "xapp") => &["SLACK_APP_TOKEN"],
        ("slack-token", _) => &["SLACK_BOT_TOKEN", "SLACK_TOKEN", "SLACK_API_TOKEN"],
        ("slack-webhook", _) => &["SLACK_WEBHOOK_URL", "SLACK_WEBHOOK", "ALERTS_WEBHOOK_URL"],
        ("stripe-key", _) => &["STRIPE_SECRET_KEY", "STRIPE_API_KEY", "STRIPE_KEY"],
        ("openai-api-key", _) => &["OPENAI_API_KEY", "OPENAI_KEY"],
        ("anthropic-api-key", _) => &["ANTHROPIC_API_KEY", "CLAUDE_API_KEY"],
        ("google-api-key", _) => &[
            "GOOGLE_API_KEY",
            "GOOGLE_MAPS_API_KEY",
            "FIREBASE_API_KEY",
            "GEMINI_API_KEY",
        ],
        ("sendgrid-api-key", _) => &["SENDGRID_API_KEY", "SENDGRID_KEY"],
        ("npm-token", _) => &["NPM_TOKEN", "NODE_AUTH_TOKEN"],
        ("pypi-token", _) => &["PYPI_TOKEN", "TWINE_PASSWORD", "PYPI_API_TOKEN"],
        ("huggingface-token", _) => &["HF_TOKEN", "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
        ("azure-storage-key", _) => &[
            "AZURE_STORAGE_CONNECTION_STRING",
            "STORAGE_CONNECTION_STRING",
            "AzureWebJobsStorage",
        ],
        ("private-key", _) => &[
            "PRIVATE_KEY",
            "SSH_PRIVATE_KEY",
            "JWT_PRIVATE_KEY",
            "TLS_KEY",
        ],
        ("jwt", _) => &["ACCESS_TOKEN", "ID_TOKEN", "SERVICE_JWT", "AUTH_TOKEN"],
        ("connection-string", _) => &[
            "DATABASE_URL",
            "MONGO_URI",
            "REDIS_URL",
            "BROKER_URL",
            "DB_CONNECTION",
        ],
        _ => &[
            "DB_PASSWORD",
            "PASSWORD",
            "SECRET_KEY",
            "CLIENT_SECRET",
            "JWT_SECRET",
            "API_KEY",
            "API_TOKEN",
            "AUTH_TOKEN",
            "SMTP_PASSWORD",
            "REDIS_PASSWORD",
            "WEBHOOK_SECRET",
            "ADMIN_PASSWORD",
            "SESSION_SECRET",
            "ACCESS_TOKEN",
            "MYSQL_ROOT_PASSWORD",
            "APP_SECRET",
        ],
    }
}

fn snake(upper: &str) -> String {
    upper.to_ascii_lowercase()
}

fn camel(upper: &str) -> String {
    let mut out = String::new();
    for (i, part) in upper.split('_').enumerate() {
        let p = part.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&p);
        } else {
            out.push_str(&values::capitalized(&p));
        }
    }
    out
}

fn dotted(upper: &str) -> String {
    upper.to_ascii_lowercase().replace('_', ".")
}

/// Safe to write without quotes in YAML and shell.
fn bare_safe(v: &str) -> bool {
    v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+/=:@%~".contains(&b))
}

/// The pieces of a connection string: text before the password, the password, text after.
fn connection_url(rng: &mut Rng) -> (String, String, &'static str) {
    let user = values::user_name(rng);
    let host = values::host(rng);
    let db = values::word(rng);
    let (pre, post, variant) = match rng.below(10) {
        0..=2 => (
            format!("postgres://{user}:"),
            format!("@{host}:5432/{db}"),
            "postgres",
        ),
        3 => (
            format!("postgresql+psycopg2://{user}:"),
            format!("@{host}:5432/{db}?sslmode=require"),
            "postgresql+psycopg2",
        ),
        4 => (
            format!("mysql://{user}:"),
            format!("@{host}:3306/{db}"),
            "mysql",
        ),
        5 => (
            format!("mongodb+srv://{user}:"),
            format!(
                "@cluster0.{}.mongodb.net/{db}?retryWrites=true&w=majority",
                rng.string(LOWER_DIGITS, 5)
            ),
            "mongodb+srv",
        ),
        6 => (
            format!("amqp://{user}:"),
            format!("@{host}:5672/{db}"),
            "amqp",
        ),
        7 => (
            format!("rediss://{user}:"),
            format!("@{host}:6380/0"),
            "rediss",
        ),
        8 => (
            format!("redis://{user}:"),
            format!("@{host}:6379/0"),
            "redis",
        ),
        _ => (
            "redis://:".to_owned(),
            format!("@{host}:6379/0"),
            "redis-no-user",
        ),
    };
    (pre, post, variant)
}

/// A curl command that uses a family's token the way its API expects.
fn curl_for(family: &str, variant: &str) -> (&'static str, &'static str) {
    match (family, variant) {
        ("github-token", _) => (
            "curl -H \"Authorization: token ",
            "\" https://api.github.com/user/repos",
        ),
        ("gitlab-token", _) => (
            "curl --header \"PRIVATE-TOKEN: ",
            "\" https://gitlab.com/api/v4/projects",
        ),
        ("anthropic-api-key", _) => (
            "curl https://api.anthropic.com/v1/messages -H \"x-api-key: ",
            "\" -H \"anthropic-version: 2023-06-01\"",
        ),
        ("stripe-key", _) => ("curl https://api.stripe.com/v1/charges -u ", ":"),
        ("google-api-key", _) => (
            "curl \"https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=",
            "\"",
        ),
        ("huggingface-token", _) => (
            "curl https://huggingface.co/api/whoami-v2 -H \"Authorization: Bearer ",
            "\"",
        ),
        ("openai-api-key", _) => (
            "curl https://api.openai.com/v1/models -H \"Authorization: Bearer ",
            "\"",
        ),
        ("slack-token", _) => (
            "curl -X POST https://slack.com/api/chat.postMessage -H \"Authorization: Bearer ",
            "\" -d channel=C0123ABCD",
        ),
        _ => (
            "curl -H \"Authorization: Bearer ",
            "\" https://api.internal.acme.io/v1/status",
        ),
    }
}

/// Writes `before`, the marked value, `after` (and a newline) into `doc`.
fn emit(
    doc: &mut Doc,
    before: &str,
    value: &str,
    after: &str,
    item: &Item,
    variant: &'static str,
    context: &str,
) {
    doc.put(before);
    doc.mark(value, item.family, Kind::Secret, variant, context);
    doc.line(after);
}

/// The text around the secret in one assignment of `kind`'s syntax, and the context name.
/// `name` is SCREAMING_SNAKE; `value` the full literal (connection URL, Azure string…).
fn assignment(
    rng: &mut Rng,
    kind: FileKind,
    name: &str,
    quoted_only: bool,
) -> (String, String, String) {
    use FileKind::*;
    let (b, a, ctx): (String, String, &str) = match kind {
        Py => match rng.below(5) {
            0 | 1 => (format!("{name} = \""), "\"".into(), "py:assign"),
            2 => (format!("{name} = '"), "'".into(), "py:assign-single"),
            3 => (
                format!("{} = os.environ.get(\"{name}\", \"", snake(name)),
                "\")".into(),
                "py:environ-default",
            ),
            _ => (
                format!("SETTINGS[\"{}\"] = \"", snake(name)),
                "\"".into(),
                "py:dict",
            ),
        },
        Env => match (quoted_only, rng.below(4)) {
            (false, 0) => (format!("{name}="), String::new(), "env:unquoted"),
            (false, 1) => (
                format!("export {name}="),
                String::new(),
                "env:export-unquoted",
            ),
            (_, 2) => (format!("{name}='"), "'".into(), "env:single-quoted"),
            _ => (format!("{name}=\""), "\"".into(), "env:quoted"),
        },
        Yaml => match (quoted_only, rng.below(4)) {
            (false, 0) => (format!("  {}: ", snake(name)), String::new(), "yaml:plain"),
            (false, 1) => (
                format!("      - {name}="),
                String::new(),
                "yaml:compose-env",
            ),
            (_, 2) => (
                format!("  {}: '", snake(name)),
                "'".into(),
                "yaml:single-quoted",
            ),
            _ => (format!("  {}: \"", snake(name)), "\"".into(), "yaml:quoted"),
        },
        Json => (
            format!("  \"{}\": \"", camel(name)),
            "\",".into(),
            "json:string",
        ),
        Js => match rng.below(3) {
            0 => (
                format!("const {} = \"", camel(name)),
                "\";".into(),
                "js:const",
            ),
            1 => (
                format!("export const {name} = '"),
                "';".into(),
                "js:export-const",
            ),
            _ => (
                format!("config.{} = \"", camel(name)),
                "\";".into(),
                "js:property",
            ),
        },
        Go => match rng.below(3) {
            0 => (
                format!("\t{} := \"", camel(name)),
                "\"".into(),
                "go:short-var",
            ),
            1 => (
                format!("\tos.Setenv(\"{name}\", \""),
                "\")".into(),
                "go:setenv",
            ),
            _ => (
                format!("\tcfg.{} = \"", values::capitalized(&camel(name))),
                "\"".into(),
                "go:field",
            ),
        },
        Rs => match rng.below(2) {
            0 => (
                format!("    let {} = \"", snake(name)),
                "\";".into(),
                "rs:let",
            ),
            _ => (
                format!("    std::env::set_var(\"{name}\", \""),
                "\");".into(),
                "rs:set-var",
            ),
        },
        Docker => match (quoted_only, rng.below(3)) {
            (false, 0) => (format!("ENV {name}="), String::new(), "docker:env-unquoted"),
            (false, 1) => (format!("ARG {name}="), String::new(), "docker:arg"),
            _ => (format!("ENV {name}=\""), "\"".into(), "docker:env-quoted"),
        },
        Shell => match (quoted_only, rng.below(2)) {
            (false, 0) => (
                format!("export {name}="),
                String::new(),
                "sh:export-unquoted",
            ),
            _ => (format!("export {name}=\""), "\"".into(), "sh:export-quoted"),
        },
        Md => (format!("export {name}=\""), "\"".into(), "md:code-block"),
        Properties => (format!("{}=", dotted(name)), String::new(), "properties"),
        Tf => (
            format!("  {} = \"", snake(name)),
            "\"".into(),
            "tf:attribute",
        ),
        AwsIni | Npmrc | Pypirc | Pem | HttpLog => {
            (format!("{name}=\""), "\"".into(), "env:quoted")
        }
    };
    (b, a, ctx.to_owned())
}

/// Renders one secret into `doc` as it would appear in a file of `kind`.
pub fn render(rng: &mut Rng, doc: &mut Doc, kind: FileKind, item: &Item) {
    use FileKind::*;
    let family = item.family;
    let variant = item.value.variant;
    let value = item.value.text.as_str();
    let name = rng.pick(names(family, variant));
    match (family, kind) {
        ("private-key", _) => render_private_key(doc, kind, item, name),
        ("connection-string", _) => {
            let (pre, post, variant) = connection_url(rng);
            let sql = variant.starts_with("postgres") || variant == "mysql";
            let (b, a, ctx) = match kind {
                Py if rng.percent(40) => (
                    "engine = create_engine(\"".to_owned(),
                    "\", pool_pre_ping=True)".to_owned(),
                    "py:create-engine".to_owned(),
                ),
                Js if rng.percent(50) => (
                    "const client = await connect(\"".to_owned(),
                    "\");".to_owned(),
                    "js:connect-call".to_owned(),
                ),
                Go if sql && rng.percent(50) => (
                    format!(
                        "\tdb, err = sql.Open(\"{}\", \"",
                        if variant == "mysql" {
                            "mysql"
                        } else {
                            "postgres"
                        }
                    ),
                    "\")".to_owned(),
                    "go:sql-open".to_owned(),
                ),
                Properties => (
                    format!(
                        "spring.{}.url=",
                        if sql { "datasource" } else { "data.mongodb" }
                    ),
                    String::new(),
                    "properties".to_owned(),
                ),
                _ => assignment(rng, kind, name, false),
            };
            emit(
                doc,
                &format!("{b}{pre}"),
                value,
                &format!("{post}{a}"),
                item,
                variant,
                &ctx,
            );
        }
        ("azure-storage-key", _) => {
            let account = format!("{}{}", values::word(rng), rng.string(LOWER_DIGITS, 4));
            let pre = format!("DefaultEndpointsProtocol=https;AccountName={account};AccountKey=");
            let post = ";EndpointSuffix=core.windows.net";
            let (b, a, ctx) = assignment(rng, kind, name, true);
            emit(
                doc,
                &format!("{b}{pre}"),
                value,
                &format!("{post}{a}"),
                item,
                variant,
                &ctx,
            );
        }
        ("jwt", Shell | Md) => {
            if kind == Md {
                doc.line("```bash");
            }
            let url = format!(
                "https://api.{}.io/v2/{}",
                values::word(rng),
                values::word(rng)
            );
            emit(
                doc,
                "curl -s -H \"Authorization: Bearer ",
                value,
                &format!("\" {url}"),
                item,
                variant,
                if kind == Md {
                    "md:curl"
                } else {
                    "sh:curl-bearer"
                },
            );
            if kind == Md {
                doc.line("```");
            }
        }
        ("jwt", HttpLog) => {
            let ts = timestamp(rng);
            if rng.percent(50) {
                emit(
                    doc,
                    &format!(
                        "{ts} DEBUG http.client: GET /api/{} headers={{'Authorization': 'Bearer ",
                        values::word(rng)
                    ),
                    value,
                    "'}",
                    item,
                    variant,
                    "log:auth-header",
                );
            } else {
                emit(
                    doc,
                    &format!("{ts} INFO  request cookie: session="),
                    value,
                    &format!("; path=/; user_id={}", rng.range(1000, 99999)),
                    item,
                    variant,
                    "log:cookie",
                );
            }
        }
        ("jwt", Py) if rng.percent(50) => emit(
            doc,
            "headers = {\"Authorization\": \"Bearer ",
            value,
            "\"}",
            item,
            variant,
            "py:bearer-header",
        ),
        ("npm-token", Npmrc) => emit(
            doc,
            "//registry.npmjs.org/:_authToken=",
            value,
            "",
            item,
            variant,
            "npmrc",
        ),
        ("pypi-token", Pypirc) => {
            doc.line(&format!("[{}]", rng.pick(&["pypi", "testpypi"])));
            doc.line("username = __token__");
            emit(doc, "password = ", value, "", item, variant, "pypirc");
            doc.line("");
        }
        ("aws-access-key", AwsIni) => {
            emit(
                doc,
                "aws_access_key_id = ",
                value,
                "",
                item,
                variant,
                "aws-credentials",
            );
        }
        ("aws-secret-key", AwsIni) => {
            emit(
                doc,
                "aws_secret_access_key = ",
                value,
                "",
                item,
                variant,
                "aws-credentials",
            );
        }
        ("slack-webhook", Shell) => emit(
            doc,
            "curl -X POST -H 'Content-type: application/json' --data '{\"text\":\"deploy finished\"}' ",
            value,
            "",
            item,
            variant,
            "sh:curl-webhook",
        ),
        (
            "github-token" | "gitlab-token" | "anthropic-api-key" | "stripe-key" | "google-api-key"
            | "huggingface-token" | "openai-api-key" | "slack-token" | "sendgrid-api-key"
            | "npm-token",
            Shell,
        ) if rng.percent(40) => {
            let (before, after) = curl_for(family, variant);
            emit(doc, before, value, after, item, variant, "sh:curl");
        }
        (_, Md) => {
            doc.line("```bash");
            let (b, a, ctx) = assignment(rng, Md, name, false);
            emit(doc, &b, value, &a, item, variant, &ctx);
            doc.line("```");
        }
        (_, Py) if family != "generic-secret" && rng.percent(15) => {
            emit(
                doc,
                &format!("# {name}="),
                value,
                "  (rotated, kept for reference)",
                item,
                variant,
                "py:comment",
            );
        }
        (_, Js | Go | Rs) if family != "generic-secret" && rng.percent(10) => {
            emit(
                doc,
                &format!("// TODO move to vault: {name}="),
                value,
                "",
                item,
                variant,
                "comment",
            );
        }
        (_, Yaml) if family != "generic-secret" && rng.percent(25) => {
            doc.line(&format!("        - name: {name}"));
            emit(
                doc,
                "          value: \"",
                value,
                "\"",
                item,
                variant,
                "yaml:k8s-env",
            );
        }
        _ => {
            let (b, a, ctx) = assignment(rng, kind, name, false);
            let (b, a, ctx) = if a.is_empty() && !bare_safe(value) {
                // People quote values that would break the syntax unquoted.
                assignment(rng, kind, name, true)
            } else {
                (b, a, ctx)
            };
            emit(doc, &b, value, &a, item, variant, &ctx);
        }
    }
}

fn render_private_key(doc: &mut Doc, kind: FileKind, item: &Item, name: &str) {
    use FileKind::*;
    let pem = item.value.text.as_str();
    let variant = item.value.variant;
    match kind {
        Pem => {
            doc.mark(pem, item.family, Kind::Secret, variant, "pem-file");
            doc.line("");
        }
        Py => emit(
            doc,
            &format!("{name} = \"\"\""),
            pem,
            "\"\"\"",
            item,
            variant,
            "py:triple-quoted",
        ),
        Yaml => {
            doc.line(&format!("  {}: |", snake(name)));
            let indented = pem.replace('\n', "\n    ");
            emit(
                doc,
                "    ",
                &indented,
                "",
                item,
                variant,
                "yaml:block-scalar",
            );
        }
        Json => {
            let escaped = pem.replace('\n', "\\n");
            emit(
                doc,
                "  \"private_key\": \"",
                &escaped,
                "\\n\",",
                item,
                variant,
                "json:escaped-newlines",
            );
        }
        Env => emit(
            doc,
            &format!("{name}=\""),
            pem,
            "\"",
            item,
            variant,
            "env:multiline-quoted",
        ),
        Go => emit(
            doc,
            &format!("\t{} := `", camel(name)),
            pem,
            "`",
            item,
            variant,
            "go:raw-string",
        ),
        _ => emit(
            doc,
            &format!("    let {} = r#\"", snake(name)),
            pem,
            "\"#;",
            item,
            variant,
            "rs:raw-string",
        ),
    }
}

pub fn timestamp(rng: &mut Rng) -> String {
    format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        rng.range(1, 12),
        rng.range(1, 28),
        rng.range(0, 23),
        rng.range(0, 59),
        rng.range(0, 59),
        rng.range(0, 999)
    )
}

/// Renders a secret as a top-level statement inserted into a real Python or Rust file.
pub fn render_in_carrier(rng: &mut Rng, doc: &mut Doc, ext: &str, item: &Item) {
    let value = item.value.text.as_str();
    let variant = item.value.variant;
    let name = rng.pick(names(item.family, variant));
    doc.line("");
    match (item.family, ext) {
        ("private-key", "py") => emit(
            doc,
            &format!("{name} = \"\"\""),
            value,
            "\"\"\"",
            item,
            variant,
            "carrier:py",
        ),
        ("private-key", _) => emit(
            doc,
            &format!("const {name}: &str = r#\""),
            value,
            "\"#;",
            item,
            variant,
            "carrier:rs",
        ),
        ("connection-string", _) => {
            let (pre, post, variant) = connection_url(rng);
            let (b, a) = if ext == "py" {
                (format!("{name} = \"{pre}"), format!("{post}\""))
            } else {
                (
                    format!("const {name}: &str = \"{pre}"),
                    format!("{post}\";"),
                )
            };
            emit(doc, &b, value, &a, item, variant, &format!("carrier:{ext}"));
        }
        ("azure-storage-key", _) => {
            let pre = format!(
                "DefaultEndpointsProtocol=https;AccountName={}{};AccountKey=",
                values::word(rng),
                rng.string(LOWER_DIGITS, 4)
            );
            let post = ";EndpointSuffix=core.windows.net";
            let (b, a) = if ext == "py" {
                (format!("{name} = \"{pre}"), format!("{post}\""))
            } else {
                (
                    format!("const {name}: &str = \"{pre}"),
                    format!("{post}\";"),
                )
            };
            emit(doc, &b, value, &a, item, variant, &format!("carrier:{ext}"));
        }
        (_, "py") => emit(
            doc,
            &format!("{name} = \""),
            value,
            "\"",
            item,
            variant,
            "carrier:py",
        ),
        _ => emit(
            doc,
            &format!("const {name}: &str = \""),
            value,
            "\";",
            item,
            variant,
            "carrier:rs",
        ),
    }
    doc.line("");
}

/// Lines around the planted items, per kind of file; none holds anything a scanner should flag.
pub fn header(rng: &mut Rng, kind: FileKind) -> Vec<String> {
    use FileKind::*;
    let w = values::word(rng);
    let lines: Vec<String> = match kind {
        Py => vec![
            format!("\"\"\"Settings for the {w} service.\"\"\""),
            "import os".into(),
            "import logging".into(),
            "from pathlib import Path".into(),
            String::new(),
            "logger = logging.getLogger(__name__)".into(),
            "BASE_DIR = Path(__file__).resolve().parent".into(),
            "SETTINGS = {}".into(),
            String::new(),
        ],
        Env => vec![
            format!("# {w} service environment"),
            "NODE_ENV=production".into(),
            "LOG_LEVEL=info".into(),
        ],
        Yaml => vec![
            format!("# {w} deployment configuration"),
            "version: \"3.9\"".into(),
            format!("service: {w}"),
            "settings:".into(),
        ],
        Json => vec![
            "{".into(),
            format!("  \"service\": \"{w}\","),
            "  \"region\": \"eu-west-1\",".into(),
        ],
        Js => vec![
            "'use strict';".into(),
            format!("// Configuration for the {w} client."),
            "const config = {};".into(),
        ],
        Go => vec![
            "package config".into(),
            String::new(),
            "import (".into(),
            "\t\"database/sql\"".into(),
            "\t\"os\"".into(),
            ")".into(),
            String::new(),
            "var _ = sql.Open".into(),
            String::new(),
            format!("// Load{} sets up the {w} service.", values::capitalized(w)),
            "func Load(cfg *Config) error {".into(),
            "\tvar err error".into(),
            "\tvar db *sql.DB".into(),
            "\t_, _ = db, err".into(),
        ],
        Rs => vec![
            format!("//! Configuration for the {w} service."),
            String::new(),
            "pub fn load() {".into(),
        ],
        Docker => vec![
            format!("FROM python:3.12-slim AS {w}"),
            "WORKDIR /app".into(),
            "COPY requirements.txt .".into(),
            "RUN pip install --no-cache-dir -r requirements.txt".into(),
        ],
        Shell => vec![
            "#!/usr/bin/env bash".into(),
            "set -euo pipefail".into(),
            format!("# deploy {w}"),
        ],
        Md => vec![
            format!("# {} service", values::capitalized(w)),
            String::new(),
            "## Quick start".into(),
            String::new(),
        ],
        AwsIni => vec!["[default]".into(), "region = us-east-1".into()],
        Npmrc => vec![
            "registry=https://registry.npmjs.org/".into(),
            "save-exact=true".into(),
        ],
        Pypirc => vec![
            "[distutils]".into(),
            "index-servers =".into(),
            "    pypi".into(),
            "    testpypi".into(),
            String::new(),
        ],
        Properties => vec![
            format!("spring.application.name={w}"),
            "server.port=8080".into(),
        ],
        Tf => vec![
            "variable \"region\" {".into(),
            "  default = \"eu-west-1\"".into(),
            "}".into(),
            String::new(),
            format!("module \"{w}\" {{"),
            format!("  source = \"./modules/{w}\""),
        ],
        Pem => vec![],
        HttpLog => vec![],
    };
    lines
}

pub fn footer(kind: FileKind) -> &'static [&'static str] {
    use FileKind::*;
    match kind {
        Json => &["  \"timeout\": 30", "}"],
        Go => &["\treturn nil", "}"],
        Rs => &["}"],
        Tf => &["}"],
        Py => &[
            "",
            "if __name__ == \"__main__\":",
            "    logger.info(\"settings loaded\")",
        ],
        Docker => &["COPY . .", "CMD [\"python\", \"-m\", \"app\"]"],
        _ => &[],
    }
}

/// A line between items, or none.
pub fn filler(rng: &mut Rng, kind: FileKind) -> Option<String> {
    use FileKind::*;
    if rng.percent(50) {
        return None;
    }
    let w = values::word(rng);
    let n = rng.range(2, 120);
    Some(match kind {
        Py => rng
            .pick(&[
                format!("TIMEOUT_SECONDS = {n}"),
                format!("{}_ENABLED = True", w.to_ascii_uppercase()),
                format!("logger.debug(\"loaded {w} settings\")"),
                format!("MAX_{}_RETRIES = {}", w.to_ascii_uppercase(), n % 9),
            ])
            .clone(),
        Env => format!("{}_WORKERS={n}", w.to_ascii_uppercase()),
        Yaml => format!("  {w}_replicas: {}", n % 7 + 1),
        Json => format!("  \"{w}Retries\": {},", n % 9),
        Js => format!("config.{w}TimeoutMs = {};", n * 100),
        Go => format!("\tcfg.{}Workers = {n}", values::capitalized(w)),
        Rs => format!("    let {w}_workers = {n};"),
        Docker => format!("RUN mkdir -p /var/lib/{w}"),
        Shell => format!("echo \"starting {w}\""),
        Md => format!("Set up the {w} component before running the tests."),
        Properties => format!("{w}.pool.size={n}"),
        Tf => format!("  {w}_count = {}", n % 5 + 1),
        AwsIni | Npmrc | Pypirc | Pem | HttpLog => return None,
    })
}

/// File name for a planted file of `kind`.
pub fn file_name(rng: &mut Rng, kind: FileKind) -> String {
    use FileKind::*;
    let w = values::word(rng);
    match kind {
        Py => rng
            .pick(&[
                "settings.py".to_owned(),
                "config.py".into(),
                format!("{w}/client.py"),
                format!("scripts/sync_{w}.py"),
                "tests/conftest.py".into(),
            ])
            .clone(),
        Env => rng
            .pick(&[
                ".env",
                ".env.production",
                ".env.local",
                "deploy/.env.staging",
            ])
            .to_string(),
        Yaml => rng
            .pick(&[
                "config.yaml".to_owned(),
                "docker-compose.yml".into(),
                "deploy/values.yaml".into(),
                ".github/workflows/deploy.yml".into(),
                format!("k8s/{w}-deployment.yaml"),
            ])
            .clone(),
        Json => rng
            .pick(&[
                "appsettings.json",
                "config.json",
                "credentials.json",
                ".vscode/launch.json",
                "fixtures/service-account.json",
            ])
            .to_string(),
        Js => rng
            .pick(&[
                "config.js".to_owned(),
                format!("src/{w}Client.js"),
                "src/firebase.js".into(),
                "next.config.js".into(),
            ])
            .clone(),
        Go => rng
            .pick(&[
                "config.go".to_owned(),
                format!("internal/{w}/config.go"),
                "cmd/server/main_config.go".into(),
            ])
            .clone(),
        Rs => rng
            .pick(&[
                "src/config.rs".to_owned(),
                format!("src/{w}.rs"),
                "examples/client.rs".into(),
            ])
            .clone(),
        Docker => rng
            .pick(&["Dockerfile", "docker/Dockerfile.prod"])
            .to_string(),
        Shell => rng
            .pick(&[
                "deploy.sh".to_owned(),
                format!("scripts/{w}.sh"),
                "bin/bootstrap".into(),
            ])
            .clone(),
        Md => rng
            .pick(&["README.md", "docs/setup.md", "CONTRIBUTING.md"])
            .to_string(),
        AwsIni => ".aws/credentials".into(),
        Npmrc => ".npmrc".into(),
        Pypirc => ".pypirc".into(),
        Properties => "src/main/resources/application.properties".into(),
        Tf => rng.pick(&["terraform.tfvars", "main.tf"]).to_string(),
        Pem => rng
            .pick(&[
                "id_rsa",
                "deploy_key.pem",
                "certs/server.key",
                ".ssh/id_ed25519",
                "keys/signing.pem",
            ])
            .to_string(),
        HttpLog => rng.pick(&["logs/app.log", "logs/debug.log"]).to_string(),
    }
}
