//! Data-driven tests for config loading: one `check` per case, expect-test snapshots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};

use super::*;

/// Loads `toml` (as file `aigov.toml`; `""` means no file) with `env`, where each entry is either
/// `NAME=value` (an environment variable) or `--flag=value` (a command-line flag), and compares
/// a rendering of the result (or the error message) with `expect`.
fn check(toml: &str, env: &[&str], expect: Expect) {
    let mut vars = BTreeMap::new();
    let mut flags = Flags::default();
    for entry in env {
        let (name, value) = entry.split_once('=').expect("entries are NAME=value");
        match name {
            "--listen" => flags.listen = Some(value.to_owned()),
            "--data-dir" => flags.data_dir = Some(PathBuf::from(value)),
            "--bundle" => flags.bundle = Some(PathBuf::from(value)),
            "--config" => flags.config = Some(PathBuf::from(value)),
            _ => {
                assert!(!name.starts_with('-'), "unknown flag {name}");
                vars.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    let file = (!toml.is_empty()).then(|| (Path::new("aigov.toml"), toml));
    let actual = match from_sources(file, |name| vars.get(name).cloned(), &flags) {
        Ok(config) => render(&config),
        Err(e) => format!("error: {e}\n"),
    };
    expect.assert_eq(&actual);
}

fn render(c: &Config) -> String {
    let mut out = String::new();
    let file = c
        .file
        .as_ref()
        .map_or("-".to_owned(), |p| p.display().to_string());
    writeln!(out, "file: {file}").unwrap();
    writeln!(out, "listen: {}", c.listen).unwrap();
    writeln!(out, "data_dir: {}", c.data_dir.display()).unwrap();
    writeln!(
        out,
        "bundle.path: {} (default: {})",
        c.bundle.path.display(),
        c.bundle.is_default
    )
    .unwrap();
    writeln!(
        out,
        "bundle.reload_interval: {:?}",
        c.bundle.reload_interval
    )
    .unwrap();
    writeln!(out, "database: {}", c.database).unwrap();
    if let Database::Postgres {
        password: Some(p), ..
    } = &c.database
    {
        // Only in tests: show the resolved value to prove resolution worked.
        writeln!(out, "database.password resolved to: {}", p.expose()).unwrap();
    }
    writeln!(out, "log: {} {:?}", c.log.level, c.log.format).unwrap();
    let a = &c.audit;
    writeln!(
        out,
        "audit: origin {} (key name {}), key {}, checkpoints every {:?}, {:?}, group commit {:?}",
        a.origin, a.key_name, a.signing_key, a.checkpoint_interval, a.durability, a.group_commit
    )
    .unwrap();
    for u in &c.gateway.upstreams {
        writeln!(
            out,
            "gateway upstream {}: {:?} {} key={} models={:?} timeout={:?} connect={:?}",
            u.name,
            u.api,
            u.base_url,
            u.api_key_ref
                .as_ref()
                .map_or("none".to_owned(), |(r, _)| r.to_string()),
            u.models,
            u.timeout,
            u.connect_timeout
        )
        .unwrap();
    }
    if c.gateway.answer_after != AnswerAfter::default() {
        writeln!(out, "gateway.answer_after: {:?}", c.gateway.answer_after).unwrap();
    }
    for (model, p) in &c.gateway.prices.models {
        writeln!(
            out,
            "gateway price {model}: input={} output={} cache_read={} cache_write={} micro-USD/Mtok",
            p.input, p.output, p.cache_read, p.cache_write
        )
        .unwrap();
    }
    let w = &c.webhooks;
    let reference = |r: &Option<(SecretRef, Origin)>| {
        r.as_ref()
            .map_or("none".to_owned(), |(r, origin)| format!("{r} ({origin})"))
    };
    if *w != WebhooksConfig::default() {
        writeln!(
            out,
            "webhooks: github_secret={} gitlab_token={} process={}",
            reference(&w.github_secret_ref),
            reference(&w.gitlab_token_ref),
            w.process
        )
        .unwrap();
    }
    let g = &c.github;
    if *g != GithubConfig::default() {
        writeln!(
            out,
            "github: api_url={} token={} timeout={:?}",
            g.api_url,
            reference(&g.token_ref),
            g.timeout
        )
        .unwrap();
    }
    // The default replica is the host name: shown only when configured.
    if a.replica != default_replica() {
        writeln!(out, "audit.replica: {}", a.replica).unwrap();
    }
    out
}

#[test]
fn defaults() {
    check(
        "",
        &[],
        expect![[r#"
            file: -
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn empty_file_is_defaults() {
    check(
        "# nothing set\n",
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn every_setting_from_file() {
    check(
        r#"
listen = "0.0.0.0:9000"
data_dir = "/var/lib/aigov"
[bundle]
path = "/etc/aigov/bundle"
reload_interval_ms = 250
[database]
url = "postgres://aigov@db.internal:5432/aigov"
password = "env:AIGOV_DB_PASSWORD"
[log]
level = "aigov=debug,info"
format = "json"
"#,
        &["AIGOV_DB_PASSWORD= s3cret \n"],
        expect![[r#"
            file: aigov.toml
            listen: 0.0.0.0:9000
            data_dir: /var/lib/aigov
            bundle.path: /etc/aigov/bundle (default: false)
            bundle.reload_interval: 250ms
            database: postgres postgres://aigov@db.internal:5432/aigov (password set)
            database.password resolved to: s3cret
            log: aigov=debug,info Json
            audit: origin aigov.local/audit (key name aigov.local), key file:/var/lib/aigov/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn data_dir_moves_default_bundle_and_database() {
    check(
        "data_dir = \"/srv/one\"\n",
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: /srv/one
            bundle.path: /srv/one/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite /srv/one/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:/srv/one/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn sqlite_with_path() {
    check(
        "[database]\nurl = \"sqlite:/tmp/x.db\"\n",
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite /tmp/x.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn env_overrides_file() {
    check(
        r#"
listen = "127.0.0.1:1"
data_dir = "file-dir"
[bundle]
path = "file-bundle"
[database]
url = "sqlite"
[log]
level = "warn"
"#,
        &[
            "AIGOV_LISTEN=127.0.0.1:2",
            "AIGOV_DATA_DIR=env-dir",
            "AIGOV_BUNDLE=env-bundle",
            "AIGOV_DATABASE_URL=sqlite:env.db",
            "AIGOV_LOG=debug",
        ],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:2
            data_dir: env-dir
            bundle.path: env-bundle (default: false)
            bundle.reload_interval: 1s
            database: sqlite env.db
            log: debug Text
            audit: origin aigov.local/audit (key name aigov.local), key file:env-dir/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn flags_override_env_and_file() {
    check(
        "listen = \"127.0.0.1:1\"\ndata_dir = \"file-dir\"\n",
        &[
            "AIGOV_LISTEN=127.0.0.1:2",
            "AIGOV_DATA_DIR=env-dir",
            "--listen=127.0.0.1:3",
            "--data-dir=flag-dir",
        ],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:3
            data_dir: flag-dir
            bundle.path: flag-dir/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite flag-dir/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:flag-dir/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn empty_env_var_is_ignored() {
    check(
        "listen = \"127.0.0.1:1\"\n",
        &["AIGOV_LISTEN="],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:1
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn unknown_top_level_key() {
    check(
        "listen = \"127.0.0.1:8080\"\nlisten_port = 9\n",
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 2, column 1
              |
            2 | listen_port = 9
              | ^^^^^^^^^^^
            unknown field `listen_port`, expected one of `listen`, `data_dir`, `bundle`, `database`, `log`, `audit`, `gateway`, `webhooks`, `github`
        "#]],
    );
}

#[test]
fn unknown_nested_key() {
    check(
        "[database]\nurl = \"sqlite\"\npasword = \"env:X\"\n",
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 3, column 1
              |
            3 | pasword = "env:X"
              | ^^^^^^^
            unknown field `pasword`, expected `url` or `password`
        "#]],
    );
}

#[test]
fn bad_log_format() {
    check(
        "[log]\nformat = \"xml\"\n",
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 2, column 10
              |
            2 | format = "xml"
              |          ^^^^^
            unknown variant `xml`, expected `text` or `json`
        "#]],
    );
}

#[test]
fn bad_listen_in_file() {
    check(
        "\nlisten = \"localhost\"\n",
        &[],
        expect![[r#"
            error: invalid `listen` in `aigov.toml` at line 2, column 10: `localhost` is not a socket address; expected `IP:PORT` such as `127.0.0.1:8080`
        "#]],
    );
}

#[test]
fn bad_listen_from_env_and_flag() {
    check(
        "",
        &["AIGOV_LISTEN=127.0.0.1"],
        expect![[r#"
            error: invalid `listen` from environment variable `AIGOV_LISTEN`: `127.0.0.1` is not a socket address; expected `IP:PORT` such as `127.0.0.1:8080`
        "#]],
    );
    check(
        "",
        &["--listen=:80"],
        expect![[r#"
            error: invalid `listen` from flag `--listen`: `:80` is not a socket address; expected `IP:PORT` such as `127.0.0.1:8080`
        "#]],
    );
}

#[test]
fn zero_reload_interval() {
    check(
        "[bundle]\nreload_interval_ms = 0\n",
        &[],
        expect![[r#"
            error: invalid `bundle.reload_interval_ms` in `aigov.toml` at line 2, column 22: must be at least 1
        "#]],
    );
}

#[test]
fn literal_password_rejected_without_echoing_it() {
    let toml = "[database]\nurl = \"postgres://aigov@db/aigov\"\npassword = \"hunter2\"\n";
    check(
        toml,
        &[],
        expect![[r#"
            error: invalid `database.password` in `aigov.toml` at line 3, column 12: the password must not be written into the config file; use a reference instead: `env:NAME` reads the environment variable NAME, `file:PATH` reads the file at PATH (surrounding whitespace is trimmed); for example `password = "env:AIGOV_DB_PASSWORD"`
        "#]],
    );
    // Rejected even when the database is SQLite: the secret must not sit in the file at all.
    check(
        "[database]\npassword = \"hunter2\"\n",
        &[],
        expect![[r#"
            error: invalid `database.password` in `aigov.toml` at line 2, column 12: the password must not be written into the config file; use a reference instead: `env:NAME` reads the environment variable NAME, `file:PATH` reads the file at PATH (surrounding whitespace is trimmed); for example `password = "env:AIGOV_DB_PASSWORD"`
        "#]],
    );
}

#[test]
fn url_with_password_rejected_without_echoing_it() {
    check(
        "[database]\nurl = \"postgres://aigov:topsecret@db:5432/aigov\"\n",
        &[],
        expect![[r#"
            error: invalid `database.url` in `aigov.toml` at line 2, column 7: the url contains a password; remove it from the url and set `database.password = "env:AIGOV_DB_PASSWORD"` (or `file:PATH`) instead
        "#]],
    );
    check(
        "",
        &["AIGOV_DATABASE_URL=postgresql://db/aigov?user=a&password=topsecret"],
        expect![[r#"
            error: invalid `database.url` from environment variable `AIGOV_DATABASE_URL`: the url contains a password; remove it from the url and set `database.password = "env:AIGOV_DB_PASSWORD"` (or `file:PATH`) instead
        "#]],
    );
}

#[test]
fn unsupported_database_url() {
    check(
        "[database]\nurl = \"mysql://root:pw@db/aigov\"\n",
        &[],
        expect![[r#"
            error: invalid `database.url` in `aigov.toml` at line 2, column 7: unsupported scheme `mysql`; expected `sqlite`, `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`
        "#]],
    );
}

#[test]
fn missing_password_env_var_names_the_reference() {
    check(
        "[database]\nurl = \"postgres://aigov@db/aigov\"\npassword = \"env:PGPASS_FOR_AIGOV\"\n",
        &[],
        expect![[r#"
            error: invalid `database.password` in `aigov.toml` at line 3, column 12: `env:PGPASS_FOR_AIGOV` refers to environment variable `PGPASS_FOR_AIGOV`, which is not set or empty
        "#]],
    );
}

#[test]
fn password_from_file_reference() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let toml = format!(
        "[database]\nurl = \"postgres://aigov@db/aigov\"\npassword = \"file:{}\"\n",
        secret.display()
    );
    let config = from_sources(
        Some((Path::new("aigov.toml"), &toml)),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    let Database::Postgres {
        password: Some(password),
        ..
    } = &config.database
    else {
        panic!(
            "expected postgres with a password, got {:?}",
            config.database
        )
    };
    assert_eq!(password.expose(), "from-a-file");
    assert!(
        !format!("{config:?}").contains("from-a-file"),
        "Debug must not show the secret"
    );
    assert!(!config.database.to_string().contains("from-a-file"));

    let missing =
        "[database]\nurl = \"postgres://aigov@db/aigov\"\npassword = \"file:/nonexistent/pw\"\n";
    check(
        missing,
        &[],
        expect![[r#"
            error: invalid `database.password` in `aigov.toml` at line 3, column 12: cannot read `file:/nonexistent/pw`: No such file or directory (os error 2)
        "#]],
    );
}

#[test]
fn config_path_precedence() {
    let flags = Flags {
        config: Some("flag.toml".into()),
        ..Flags::default()
    };
    assert_eq!(
        config_path(&flags, |_| Some("env.toml".into())),
        ("flag.toml".into(), true)
    );
    assert_eq!(
        config_path(&Flags::default(), |_| Some("env.toml".into())),
        ("env.toml".into(), true)
    );
    assert_eq!(
        config_path(&Flags::default(), |_| None),
        (DEFAULT_CONFIG_FILE.into(), false)
    );
}

#[test]
fn audit_settings() {
    check(
        r#"
[audit]
origin = "aigov.example.com/prod"
signing_key = "env:AIGOV_AUDIT_KEY"
checkpoint_interval_ms = 250
durability = "process-crash"
replica = "eu-1"
group_commit_ms = 0
"#,
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.example.com/prod (key name aigov.example.com), key env:AIGOV_AUDIT_KEY, checkpoints every 250ms, ProcessCrash, group commit 0ns
            audit.replica: eu-1
        "#]],
    );
    check(
        "[audit]\ngroup_commit_ms = 5000\n",
        &[],
        expect![[r#"
            error: invalid `audit.group_commit_ms` in `aigov.toml` at line 2, column 19: must be at most 1000 (queued entries would wait that long to be committed); the default is 2
        "#]],
    );
    check(
        "[audit]\nsigning_key = \"file:/etc/aigov/audit.key\"\n",
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:/etc/aigov/audit.key, checkpoints every 1s, PowerLoss, group commit 2ms
        "#]],
    );
}

#[test]
fn audit_errors() {
    check(
        "[audit]\nsigning_key = \"3ZVU0x/F5Lq8Xr...\"\n",
        &[],
        expect![[r#"
            error: invalid `audit.signing_key` in `aigov.toml` at line 2, column 15: the signing key must not be written into the config file; use `file:PATH` (a key file, created on first start if missing) or `env:NAME` (a variable holding the key text from such a file)
        "#]],
    );
    check(
        "[audit]\nsigning_key = \"env:\"\n",
        &[],
        expect![[r#"
        error: invalid `audit.signing_key` in `aigov.toml` at line 2, column 15: `env:` must be followed by an environment variable name (letters, digits, `_`); use `file:PATH` (a key file, created on first start if missing) or `env:NAME` (a variable holding the key text from such a file)
    "#]],
    );
    check(
        "[audit]\norigin = \"my log\"\n",
        &[],
        expect![[r#"
        error: invalid `audit.origin` in `aigov.toml` at line 2, column 10: `my log` contains ' '; use printable ASCII without spaces, such as `aigov.example.com/prod`
    "#]],
    );
    check(
        "[audit]\norigin = \"a+b\"\n",
        &[],
        expect![[r#"
        error: invalid `audit.origin` in `aigov.toml` at line 2, column 10: `a+b` contains `+`, which signed-note key names cannot hold; use e.g. `aigov.example.com/prod`
    "#]],
    );
    check(
        "[audit]\ncheckpoint_interval_ms = 0\n",
        &[],
        expect![[r#"
        error: invalid `audit.checkpoint_interval_ms` in `aigov.toml` at line 2, column 26: must be at least 1
    "#]],
    );
    check(
        "[audit]\ndurability = \"fast\"\n",
        &[],
        expect![[r#"
        error: invalid config file `aigov.toml`: TOML parse error at line 2, column 14
          |
        2 | durability = "fast"
          |              ^^^^^^
        unknown variant `fast`, expected `power-loss` or `process-crash`
    "#]],
    );
    check(
        "[audit]\nkey = \"file:x\"\n",
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 2, column 1
              |
            2 | key = "file:x"
              | ^^^
            unknown field `key`, expected one of `origin`, `signing_key`, `checkpoint_interval_ms`, `durability`, `replica`, `group_commit_ms`
        "#]],
    );
}

#[test]
fn gateway_upstreams() {
    check(
        r#"
[gateway]
answer_after = "committed"

[[gateway.upstreams]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com/"
api_key = "env:ANTHROPIC_API_KEY"
models = ["claude-sonnet-4", "claude-opus-4"]

[[gateway.upstreams]]
name = "local"
api = "openai"
base_url = "http://127.0.0.1:8000/v1"
models = ["local-coder"]
timeout_ms = 30000
"#,
        &["ANTHROPIC_API_KEY=sk-ant-test"],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            gateway upstream anthropic: Anthropic https://api.anthropic.com key=env:ANTHROPIC_API_KEY models=["claude-sonnet-4", "claude-opus-4"] timeout=600s connect=5s
            gateway upstream local: Openai http://127.0.0.1:8000/v1 key=none models=["local-coder"] timeout=30s connect=5s
            gateway.answer_after: Committed
        "#]],
    );
}

#[test]
fn gateway_errors() {
    let upstream = |extra: &str| {
        format!(
            "[[gateway.upstreams]]\nname = \"a\"\napi = \"openai\"\nbase_url = \"https://x.test/v1\"\nmodels = [\"m\"]\n{extra}"
        )
    };
    check(
        &upstream("api_key = \"sk-live-123\"\n"),
        &[],
        expect![[r#"
        error: invalid `gateway.upstreams.api_key` in `aigov.toml` at line 6, column 11: the provider key must not be written into the config file; use `env:NAME` (an environment variable holding the provider key) or `file:PATH`; for example `api_key = "env:OPENAI_API_KEY"`
    "#]],
    );
    // A missing variable is found when `serve` reads the keys, not by other commands.
    let mut config = from_sources(
        Some((
            Path::new("aigov.toml"),
            &upstream("api_key = \"env:AIGOV_TEST_NOPE_KEY\"\n"),
        )),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    expect!["invalid `gateway.upstreams.api_key` in `aigov.toml` at line 6, column 11: `env:AIGOV_TEST_NOPE_KEY` refers to environment variable `AIGOV_TEST_NOPE_KEY`, which is not set or empty"].assert_eq(&config.gateway.resolve_keys().unwrap_err().to_string());
    check(
        &upstream("timeout_ms = 0\n"),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.timeout_ms` in `aigov.toml` at line 6, column 14: must be at least 1
        "#]],
    );
    check(
        &format!("{}{}", upstream(""), upstream("")),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.name` in `aigov.toml` at line 7, column 8: upstream `a` is defined twice; names must be unique
        "#]],
    );
    check(
        &format!(
            "{}{}",
            upstream(""),
            upstream("").replace("name = \"a\"", "name = \"b\"")
        ),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.models` in `aigov.toml` at line 10, column 11: model `m` is served by both `a` and `b`; route each model to one upstream
        "#]],
    );
    // Fallbacks: known, other, same API, once; a fallback-only upstream may list no models.
    let backup = |api: &str| {
        format!(
            "[[gateway.upstreams]]\nname = \"b\"\napi = \"{api}\"\nbase_url = \"https://y.test/v1\"\nmodels = []\n"
        )
    };
    check(
        &format!(
            "{}{}",
            upstream("fallback = [\"b\", \"c\"]\n"),
            backup("openai")
        ),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.fallback` in `aigov.toml` at line 6, column 18: upstream `a` falls back to `c`, which is not a configured upstream (known: a, b)
        "#]],
    );
    check(
        &format!(
            "{}{}",
            upstream("fallback = [\"b\", \"b\"]\n"),
            backup("openai")
        ),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.fallback` in `aigov.toml` at line 6, column 18: upstream `a` lists `b` as its own fallback or twice; list each other upstream once
        "#]],
    );
    check(
        &format!(
            "{}{}",
            upstream("fallback = [\"b\"]\n"),
            backup("anthropic")
        ),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.fallback` in `aigov.toml` at line 6, column 13: upstream `a` (`openai`) cannot fall back to `b` (`anthropic`): a fallback must speak the same API
        "#]],
    );
    check(
        &format!("{}{}", upstream(""), backup("openai")),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.models` in `aigov.toml` at line 10, column 10: upstream `b` serves no models; list the inventory model ids it serves, e.g. `models = ["gpt-4.1"]` (only a fallback of another upstream may list none)
        "#]],
    );
    let config = from_sources(
        Some((
            Path::new("aigov.toml"),
            &format!("{}{}", upstream("fallback = [\"b\"]\n"), backup("openai")),
        )),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    let route: Vec<&str> = config
        .gateway
        .route("m")
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(route, ["a", "b"]);
    assert!(config.gateway.route("other").is_empty());
    check(
        &upstream("").replace("https://x.test/v1", "https://user:pw@x.test/v1"),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.base_url` in `aigov.toml` at line 4, column 12: upstream `a`: `base_url` must not contain credentials; put the key in `api_key = "env:NAME"`
        "#]],
    );
    check(
        &upstream("").replace("https://x.test/v1", "ftp://x.test"),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.base_url` in `aigov.toml` at line 4, column 12: upstream `a`: `base_url` must start with `https://` or `http://`
        "#]],
    );
    check(
        &upstream("").replace("[\"m\"]", "[]"),
        &[],
        expect![[r#"
            error: invalid `gateway.upstreams.models` in `aigov.toml` at line 5, column 10: upstream `a` serves no models; list the inventory model ids it serves, e.g. `models = ["gpt-4.1"]` (only a fallback of another upstream may list none)
        "#]],
    );
    check(
        &upstream("").replace("openai", "gemini"),
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 3, column 7
              |
            3 | api = "gemini"
              |       ^^^^^^^^
            unknown variant `gemini`, expected `openai` or `anthropic`
        "#]],
    );
}

#[test]
fn gateway_prices() {
    check(
        r#"
[[gateway.prices]]
model = "claude-sonnet-4"
input = 3
output = 15.0
cache_read = 0.3
cache_write = 3.75

[[gateway.prices]]
model = "local-coder"
input = 0
output = 0.000001
"#,
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            gateway price claude-sonnet-4: input=3000000 output=15000000 cache_read=300000 cache_write=3750000 micro-USD/Mtok
            gateway price local-coder: input=0 output=1 cache_read=0 cache_write=0 micro-USD/Mtok
        "#]],
    );
    let price =
        |extra: &str| format!("[[gateway.prices]]\nmodel = \"m\"\ninput = 1\noutput = 2\n{extra}");
    check(
        &price("cache_read = -0.5\n"),
        &[],
        expect![[r#"
        error: invalid `gateway.prices.cache_read` in `aigov.toml` at line 5, column 14: `-0.5` is not a price for model `m`; give USD per million tokens, from 0 to 1000000, e.g. `3.0`
    "#]],
    );
    check(
        &price("cache_write = inf\n"),
        &[],
        expect![[r#"
        error: invalid `gateway.prices.cache_write` in `aigov.toml` at line 5, column 15: `inf` is not a price for model `m`; give USD per million tokens, from 0 to 1000000, e.g. `3.0`
    "#]],
    );
    check(
        &price("input_price = 1\n"),
        &[],
        expect![[r#"
        error: invalid config file `aigov.toml`: TOML parse error at line 5, column 1
          |
        5 | input_price = 1
          | ^^^^^^^^^^^
        unknown field `input_price`, expected one of `model`, `input`, `output`, `cache_read`, `cache_write`
    "#]],
    );
    check(
        &format!("{}{}", price(""), price("")),
        &[],
        expect![[r#"
        error: invalid `gateway.prices.model` in `aigov.toml` at line 6, column 9: model `m` is priced twice (first in `aigov.toml` at line 2, column 9); give each model one price
    "#]],
    );
    check(
        "[[gateway.prices]]\nmodel = \"m\"\ninput = 1\n",
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 1, column 1
              |
            1 | [[gateway.prices]]
              | ^^^^^^^^^^^^^^^^^^
            missing field `output`
        "#]],
    );
}

#[test]
fn webhooks() {
    let section = |body: &str| format!("[webhooks]\n{body}");
    check(
        &section(
            "github_secret = \"env:GITHUB_WEBHOOK_SECRET\"\ngitlab_token = \"file:/run/secrets/gitlab\"\n",
        ),
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            webhooks: github_secret=env:GITHUB_WEBHOOK_SECRET (in `aigov.toml` at line 2, column 17) gitlab_token=file:/run/secrets/gitlab (in `aigov.toml` at line 3, column 16) process=true
        "#]],
    );
    check(
        &section("process = false\n"),
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            webhooks: github_secret=none gitlab_token=none process=false
        "#]],
    );
    // Literal secrets are refused without echoing them, like every other secret.
    check(
        &section("github_secret = \"It's a Secret to Everybody\"\n"),
        &[],
        expect![[r#"
            error: invalid `webhooks.github_secret` in `aigov.toml` at line 2, column 17: the webhook secret must not be written into the config file; use `env:NAME` (an environment variable holding the secret) or `file:PATH`; for example `github_secret = "env:GITHUB_WEBHOOK_SECRET"`
        "#]],
    );
    check(
        &section("gitlab_token = \"glpat-123\"\n"),
        &[],
        expect![[r#"
            error: invalid `webhooks.gitlab_token` in `aigov.toml` at line 2, column 16: the webhook token must not be written into the config file; use `env:NAME` (an environment variable holding the token) or `file:PATH`; for example `gitlab_token = "env:GITLAB_WEBHOOK_TOKEN"`
        "#]],
    );
    check(
        &section("github_secret = \"env:\"\n"),
        &[],
        expect![[r#"
            error: invalid `webhooks.github_secret` in `aigov.toml` at line 2, column 17: `env:` must be followed by an environment variable name (letters, digits, `_`); use `env:NAME` (an environment variable holding the secret) or `file:PATH`; for example `github_secret = "env:GITHUB_WEBHOOK_SECRET"`
        "#]],
    );
    check(
        &section("gitlab_secret = \"env:X\"\n"),
        &[],
        expect![[r#"
            error: invalid config file `aigov.toml`: TOML parse error at line 2, column 1
              |
            2 | gitlab_secret = "env:X"
              | ^^^^^^^^^^^^^
            unknown field `gitlab_secret`, expected one of `github_secret`, `gitlab_token`, `process`
        "#]],
    );
}

#[test]
fn webhook_secrets_are_resolved_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("gitlab-token");
    std::fs::write(&token, "  glpat-webhook\n").unwrap();
    let text = format!(
        "[webhooks]\ngithub_secret = \"env:AIGOV_TEST_NOPE_WEBHOOK\"\ngitlab_token = \"file:{}\"\n",
        token.display()
    );
    let mut config = from_sources(
        Some((Path::new("aigov.toml"), &text)),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(config.webhooks.github_secret, None);
    expect!["invalid `webhooks.github_secret` in `aigov.toml` at line 2, column 17: `env:AIGOV_TEST_NOPE_WEBHOOK` refers to environment variable `AIGOV_TEST_NOPE_WEBHOOK`, which is not set or empty"]
        .assert_eq(&config.webhooks.resolve_secrets().unwrap_err().to_string());
    config.webhooks.github_secret_ref = None;
    config.webhooks.resolve_secrets().unwrap();
    assert_eq!(
        config.webhooks.gitlab_token.as_ref().map(Secret::expose),
        Some("glpat-webhook")
    );
    assert_eq!(
        format!("{:?}", config.webhooks.gitlab_token),
        "Some(Secret(***))"
    );
}

#[test]
fn github() {
    let section = |body: &str| format!("[github]\n{body}");
    check(
        &section("token = \"env:GITHUB_TOKEN\"\n"),
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            github: api_url=https://api.github.com token=env:GITHUB_TOKEN (in `aigov.toml` at line 2, column 9) timeout=10s
        "#]],
    );
    check(
        &section(
            "api_url = \"https://ghe.example.com/api/v3/\"\ntoken = \"file:/run/secrets/github\"\ntimeout_ms = 2500\n",
        ),
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            github: api_url=https://ghe.example.com/api/v3 token=file:/run/secrets/github (in `aigov.toml` at line 3, column 9) timeout=2.5s
        "#]],
    );
    check(
        &section("api_url = \"http://127.0.0.1:9999\"\n"),
        &[],
        expect![[r#"
            file: aigov.toml
            listen: 127.0.0.1:8080
            data_dir: aigov-data
            bundle.path: aigov-data/bundle (default: true)
            bundle.reload_interval: 1s
            database: sqlite aigov-data/aigov.db
            log: info Text
            audit: origin aigov.local/audit (key name aigov.local), key file:aigov-data/audit-signing.key, checkpoints every 1s, PowerLoss, group commit 2ms
            github: api_url=http://127.0.0.1:9999 token=none timeout=10s
        "#]],
    );
    // A literal token is refused without echoing it, like every other secret.
    check(
        &section("token = \"ghp_16C7e42F292c6912E7710c838347Ae178B4a\"\n"),
        &[],
        expect![[r#"
            error: invalid `github.token` in `aigov.toml` at line 2, column 9: the token must not be written into the config file; use `env:NAME` (an environment variable holding the token) or `file:PATH`; for example `token = "env:GITHUB_TOKEN"`
        "#]],
    );
    for url in [
        "api.github.com",
        "ftp://api.github.com",
        "https://",
        "https://x-access-token:ghs_secret@api.github.com",
        "https://api.github.com/?x=1",
        "https://api.github.com/../evil",
    ] {
        let toml = section(&format!("api_url = \"{url}\"\n"));
        let result = from_sources(
            Some((Path::new("aigov.toml"), &toml)),
            |_| None,
            &Flags::default(),
        );
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with("invalid `github.api_url` in `aigov.toml` at line 2, column 11: "),
            "{message}"
        );
        assert!(!message.contains("ghs_secret"), "{message}");
    }
    check(
        &section("api_url = \"https://api.github.com?x\"\n"),
        &[],
        expect![[r#"
            error: invalid `github.api_url` in `aigov.toml` at line 2, column 11: must not have a query or fragment; for example `https://api.github.com` or `https://HOST/api/v3` for GitHub Enterprise Server
        "#]],
    );
    check(
        &section("timeout_ms = 99\n"),
        &[],
        expect![[r#"
        error: invalid `github.timeout_ms` in `aigov.toml` at line 2, column 14: must be between 100 and 60000, not 99; the default is 10000
    "#]],
    );
    check(
        &section("timeout_ms = 60001\n"),
        &[],
        expect![[r#"
        error: invalid `github.timeout_ms` in `aigov.toml` at line 2, column 14: must be between 100 and 60000, not 60001; the default is 10000
    "#]],
    );
    check(
        &section("secret = \"env:X\"\n"),
        &[],
        expect![[r#"
        error: invalid config file `aigov.toml`: TOML parse error at line 2, column 1
          |
        2 | secret = "env:X"
          | ^^^^^^
        unknown field `secret`, expected one of `api_url`, `token`, `timeout_ms`
    "#]],
    );
}

#[test]
fn github_token_is_resolved_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("github-token");
    std::fs::write(&token, "  ghs_installationtoken\n").unwrap();
    let text = format!("[github]\ntoken = \"file:{}\"\n", token.display());
    let mut config = from_sources(
        Some((Path::new("aigov.toml"), &text)),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(config.github.token, None);
    config.github.resolve_secrets().unwrap();
    assert_eq!(
        config.github.token.as_ref().map(Secret::expose),
        Some("ghs_installationtoken")
    );
    assert_eq!(format!("{:?}", config.github.token), "Some(Secret(***))");

    let text = "[github]\ntoken = \"env:AIGOV_TEST_NOPE_GITHUB\"\n";
    let mut config = from_sources(
        Some((Path::new("aigov.toml"), text)),
        |_| None,
        &Flags::default(),
    )
    .unwrap();
    expect!["invalid `github.token` in `aigov.toml` at line 2, column 9: `env:AIGOV_TEST_NOPE_GITHUB` refers to environment variable `AIGOV_TEST_NOPE_GITHUB`, which is not set or empty"]
        .assert_eq(&config.github.resolve_secrets().unwrap_err().to_string());

    // Without a token there is nothing to read, and aigov does not call GitHub.
    let mut config = from_sources(None, |_| None, &Flags::default()).unwrap();
    config.github.resolve_secrets().unwrap();
    assert_eq!(config.github.token, None);
    assert_eq!(config.github.api_url, "https://api.github.com");
}
