//! `aigov deploy authorize|revoke|retro-review|proof|verify`: deployment authorizations in the
//! store `serve` uses (signed with the log's key and recorded in its ledger), the bundle a CD
//! pipeline verifies, and `verify` itself, which needs only the log's verifier key and the
//! bundle (or the server, to learn about revocations too).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use attest::{AuthorizationBundle, Expected, Refusal, Verified};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use server::deploys::{self, AuthorizeRequest, DeployError, RetroReviewRequest, RevokeRequest};
use store::DeployAuthorization;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{StoreArgs, exit};

/// Environment variable holding the admin token for `verify --server`.
const TOKEN_ENV: &str = "AIGOV_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeployCommand {
    /// Authorize deploying a commit to an environment of an application: exit 0 authorized
    /// (signed and recorded), 1 refused (reasons printed, refusal recorded), 2 tool failure.
    Authorize(AuthorizeArgs),
    /// Revoke an authorization (recorded in the ledger).
    Revoke {
        /// The authorization's id.
        #[arg(long)]
        id: i64,
        /// The inventory person revoking it.
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Record the retro-review of a break-glass deployment (by someone other than its approver).
    RetroReview {
        /// The authorization's id.
        #[arg(long)]
        id: i64,
        /// The inventory person reviewing it.
        #[arg(long)]
        reviewer: String,
        #[arg(long)]
        notes: String,
        #[command(flatten)]
        target: Target,
    },
    /// Write the authorization bundle of a deployment (for `aigov deploy verify --bundle`):
    /// exit 0 valid, 1 not authorized (the bundle is still written when one exists), 2 failure.
    Proof {
        #[arg(long)]
        app: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        commit: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Verify a deployment's authorization offline, as a CD pipeline does: exit 0 authorized,
    /// 1 not (the reason: missing, expired, another commit, revoked, signature, not in the
    /// log), 2 tool failure.
    Verify(VerifyArgs),
}

/// The governance bundle and store of `authorize`, `revoke` and `retro-review`.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Governance bundle whose inventory and change settings apply [env: AIGOV_BUNDLE]
    /// [default: the one `aigov serve` uses]
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AuthorizeArgs {
    /// Inventory application id, e.g. `storefront`.
    #[arg(long)]
    app: String,
    /// One of the application's environments, e.g. `production`.
    #[arg(long)]
    env: String,
    /// The commit to deploy (40 hex digits).
    #[arg(long)]
    commit: String,
    /// The inventory person approving.
    #[arg(long)]
    approver: String,
    /// An emergency deployment without a passing gate; needs --reason, is flagged and must be
    /// retro-reviewed.
    #[arg(long, requires = "reason")]
    break_glass: bool,
    /// Why the emergency deployment cannot wait.
    #[arg(long, requires = "break_glass")]
    reason: Option<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["bundle", "server"])))]
pub(crate) struct VerifyArgs {
    #[arg(long)]
    app: String,
    #[arg(long)]
    env: String,
    #[arg(long)]
    commit: String,
    /// The log's verifier key (`<name>+<id>+<key>`), or `file:<path>` holding it.
    #[arg(long, value_name = "KEY")]
    key: String,
    /// The log's checkpoint origin [default: the one the bundle's checkpoint names; the
    /// key's signature covers it either way]
    #[arg(long)]
    origin: Option<String>,
    /// An authorization bundle file (`aigov deploy proof`); cannot know of later revocations.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Fetch the bundle from this aigov server now (admin token from `AIGOV_TOKEN`), which
    /// also proves a revocation.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
}

pub(crate) fn run(command: DeployCommand) -> anyhow::Result<u8> {
    match command {
        DeployCommand::Verify(args) => verify(&args),
        DeployCommand::Authorize(args) => {
            let request = AuthorizeRequest {
                app: args.app,
                environment: args.env,
                commit: args.commit,
                approver: args.approver,
                break_glass: args.break_glass.then(|| args.reason.unwrap_or_default()),
            };
            with_service(&args.target, |ctx| async move {
                deploys::authorize(
                    &ctx.store,
                    &ctx.audit,
                    &ctx.bundle,
                    &ctx.actor,
                    request,
                    OffsetDateTime::now_utc(),
                )
                .await
            })
        }
        DeployCommand::Revoke {
            id,
            by,
            reason,
            target,
        } => with_service(&target, |ctx| async move {
            deploys::revoke(
                &ctx.store,
                &ctx.audit,
                &ctx.bundle,
                &ctx.actor,
                &RevokeRequest { id, by, reason },
                OffsetDateTime::now_utc(),
            )
            .await
        }),
        DeployCommand::RetroReview {
            id,
            reviewer,
            notes,
            target,
        } => with_service(&target, |ctx| async move {
            deploys::retro_review(
                &ctx.store,
                &ctx.audit,
                &ctx.bundle,
                &ctx.actor,
                &RetroReviewRequest {
                    id,
                    reviewer,
                    notes,
                },
                OffsetDateTime::now_utc(),
            )
            .await
        }),
        DeployCommand::Proof {
            app,
            env,
            commit,
            out,
            store,
        } => proof(&store, &app, &env, &commit, &out),
    }
}

/// What a service call needs.
struct Context {
    store: store::Store,
    audit: audit::AuditLog,
    bundle: bundle::Bundle,
    actor: String,
}

fn load_config(args: &StoreArgs, bundle: Option<PathBuf>) -> anyhow::Result<config::Config> {
    let flags = config::Flags {
        bundle,
        ..args.flags()
    };
    let config = config::load(&flags)?;
    let log = config::LogConfig {
        level: "warn".to_owned(),
        format: config.log.format,
    };
    crate::serve::init_logging(&log)?;
    Ok(config)
}

/// Runs one service call with the store, audit log and governance bundle, prints its result,
/// and maps it to an exit code.
fn with_service<F, Fut>(target: &Target, call: F) -> anyhow::Result<u8>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<DeployAuthorization, DeployError>>,
{
    let config = load_config(&target.store, target.bundle.clone())?;
    let path = &config.bundle.path;
    let governance = bundle::load(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot load the governance bundle at `{}`: {e}",
            path.display()
        )
    })?;
    let format = target.format;
    crate::runtime()?.block_on(async {
        let store = crate::open_store(&config).await?;
        let audit = crate::open_audit(&config, &store, false).await?;
        let ctx = Context {
            store,
            audit: audit.clone(),
            bundle: governance,
            actor: crate::cli_actor(),
        };
        let result = call(ctx).await;
        // Flush and sign a checkpoint covering what this command recorded.
        audit
            .shutdown()
            .await
            .context("cannot finish the audit log")?;
        match result {
            Ok(a) => {
                print_authorization(&a, format);
                Ok(exit::OK)
            }
            Err(DeployError::Denied {
                reasons,
                ledger_index,
            }) => {
                if format == OutputFormat::Json {
                    println!(
                        "{}",
                        json!({"authorized": false, "reasons": reasons, "ledger_index": ledger_index})
                    );
                } else {
                    println!("refused (recorded as ledger entry {ledger_index}):");
                    for r in &reasons {
                        println!("  - {r}");
                    }
                }
                Ok(exit::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn authorization_json(a: &DeployAuthorization) -> Value {
    json!({
        "id": a.id,
        "app": a.app,
        "environment": a.environment,
        "repo": a.repo,
        "commit": a.commit_sha,
        "kind": a.kind.as_str(),
        "approver": a.approver,
        "reason": a.reason,
        "authorized_at": time(a.authorized_at),
        "expires_at": time(a.expires_at),
        "retro_review_due": a.retro_review_due.map(time),
        "ledger_index": a.ledger_index,
        "revocation": a.revocation.as_ref().map(|r| json!({
            "by": r.by, "at": time(r.at), "reason": r.reason, "ledger_index": r.ledger_index,
        })),
        "retro_review": a.retro_review.as_ref().map(|r| json!({
            "by": r.by, "at": time(r.at), "notes": r.notes, "ledger_index": r.ledger_index,
        })),
    })
}

fn print_authorization(a: &DeployAuthorization, format: OutputFormat) {
    if format == OutputFormat::Json {
        println!("{}", authorization_json(a));
        return;
    }
    println!(
        "authorization {}: {} of {} to {}/{} approved by {}, valid until {} (ledger entry {})",
        a.id,
        a.kind,
        a.commit_sha,
        a.app,
        a.environment,
        a.approver,
        time(a.expires_at),
        a.ledger_index
    );
    if let Some(reason) = &a.reason {
        println!("  break-glass reason: {reason}");
    }
    if let Some(due) = a.retro_review_due {
        match &a.retro_review {
            Some(r) => println!(
                "  retro-reviewed by {} at {} (ledger entry {})",
                r.by,
                time(r.at),
                r.ledger_index
            ),
            None => println!("  retro-review due by {}", time(due)),
        }
    }
    if let Some(r) = &a.revocation {
        println!(
            "  revoked by {} at {} because {} (ledger entry {})",
            r.by,
            time(r.at),
            r.reason,
            r.ledger_index
        );
    }
}

fn proof(
    store_args: &StoreArgs,
    app: &str,
    env: &str,
    commit: &str,
    out: &std::path::Path,
) -> anyhow::Result<u8> {
    let config = load_config(store_args, None)?;
    crate::runtime()?.block_on(async {
        let store = crate::open_store(&config).await?;
        let audit = crate::open_audit(&config, &store, false).await?;
        let found = deploys::authorization_bundle(
            &store,
            &audit,
            app,
            env,
            commit,
            OffsetDateTime::now_utc(),
        )
        .await;
        audit
            .shutdown()
            .await
            .context("cannot finish the audit log")?;
        let (status, bundle) = found?;
        if let Some(bundle) = &bundle {
            let text = serde_json::to_string_pretty(bundle)?;
            std::fs::write(out, text + "\n")
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            eprintln!("wrote `{}`", out.display());
        }
        match status.reason(commit) {
            None => Ok(exit::OK),
            Some(reason) => {
                println!("not authorized: {reason}");
                Ok(exit::FAILURE)
            }
        }
    })
}

fn parse_at(at: Option<&str>) -> anyhow::Result<OffsetDateTime> {
    match at {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).with_context(|| {
            format!("invalid --at `{s}`: expected RFC 3339, e.g. `2026-01-02T15:04:05Z`")
        }),
    }
}

/// Fetches the bundle from the server: `Ok(Err(refusal))` when the server has none.
async fn fetch(
    server: &str,
    args: &VerifyArgs,
) -> anyhow::Result<Result<AuthorizationBundle, Refusal>> {
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("--server needs an admin token in `{TOKEN_ENV}`"))?;
    let url = format!(
        "{}/api/v1/deployments/authorization",
        server.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .get(&url)
        .query(&[
            ("app", args.app.as_str()),
            ("env", args.env.as_str()),
            ("commit", args.commit.as_str()),
        ])
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach `{url}`"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("`{url}` answered {status} without JSON"))?;
    if status == reqwest::StatusCode::NOT_FOUND && body.get("status").is_some() {
        let commits: Vec<String> = body["authorized_commits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        return Ok(Err(if commits.is_empty() {
            Refusal::Missing(format!(
                "the server has no authorization of commit {} for `{}` environment `{}`",
                args.commit, args.app, args.env
            ))
        } else {
            Refusal::OtherCommit {
                commit: commits.join(", "),
            }
        }));
    }
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("`{url}` answered {status}: {message}");
    }
    let bundle = serde_json::from_value(body["bundle"].clone())
        .map_err(|e| Refusal::Invalid(format!("the server's bundle is unreadable: {e}")));
    Ok(bundle)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<u8> {
    let key = crate::audit::read_verifier(&args.key)?;
    let at = parse_at(args.at.as_deref())?;
    let bundle = match (&args.bundle, &args.server) {
        (Some(path), _) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read bundle `{}`", path.display()))?;
            serde_json::from_slice::<AuthorizationBundle>(&bytes).map_err(|e| {
                Refusal::Invalid(format!(
                    "`{}` is not an authorization bundle: {e}",
                    path.display()
                ))
            })
        }
        (None, Some(server)) => crate::runtime()?.block_on(fetch(server, args))?,
        (None, None) => bail!("--bundle or --server is required"),
    };
    let expected = Expected {
        app: &args.app,
        environment: &args.env,
        commit: &args.commit,
    };
    let result =
        bundle.and_then(|b| attest::verify_bundle(&b, &key, args.origin.as_deref(), &expected, at));
    print_verdict(args, &result);
    Ok(match result {
        Ok(_) => exit::OK,
        Err(_) => exit::FAILURE,
    })
}

fn print_verdict(args: &VerifyArgs, result: &Result<Verified, Refusal>) {
    if args.format == OutputFormat::Json {
        let (authorization, reason, message) = match result {
            Ok(v) => {
                let p = &v.statement.predicate;
                (
                    json!({
                        "kind": p.kind.as_str(),
                        "approver": p.approver,
                        "authorized_at": time(p.authorized_at),
                        "expires_at": time(p.expires_at),
                        "reason": p.reason,
                        "retro_review_due": p.retro_review_due.map(time),
                        "ledger_index": v.ledger_index,
                        "checkpoint_size": v.checkpoint_size,
                        "origin": v.origin,
                    }),
                    Value::Null,
                    Value::Null,
                )
            }
            Err(r) => (Value::Null, r.code().into(), r.to_string().into()),
        };
        println!(
            "{}",
            json!({
                "authorized": result.is_ok(),
                "app": args.app,
                "environment": args.env,
                "commit": args.commit,
                "reason": reason,
                "message": message,
                "authorization": authorization,
            })
        );
        return;
    }
    match result {
        Ok(v) => {
            let p = &v.statement.predicate;
            println!(
                "authorized: {} may be deployed to {}/{} ({} authorization by {} at {}, valid until {}; ledger entry {} proven in the checkpoint of size {} of `{}`)",
                args.commit,
                args.app,
                args.env,
                p.kind.as_str(),
                p.approver,
                time(p.authorized_at),
                time(p.expires_at),
                v.ledger_index,
                v.checkpoint_size,
                v.origin
            );
            if let Some(reason) = &p.reason {
                println!("  break-glass: {reason}");
            }
        }
        Err(r) => println!("not authorized: {r}"),
    }
}
