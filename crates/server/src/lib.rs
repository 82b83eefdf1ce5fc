//! aigov's HTTP server: JSON API v1, the audit log in the C2SP tiles layout, the
//! server-rendered dashboard, health probes, admin-token auth and bundle hot reload. The only
//! crate that knows HTTP.

pub mod alerts;
mod api;
mod auth;
pub mod deploys;
mod error;
pub mod gate;
mod gateway;
pub mod github;
pub mod keys;
mod log;
mod pages;
mod reload;
mod request;
pub mod token;
mod webhooks;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use audit::{AuditLog, Record, Recorded};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use bundle::{Bundle, LoadError};
use ledger::EntryKind;
use model::{Decision, DecisionRequest};
use store::Store;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::AppError;
pub use pages::html_escape;
pub use request::{decision_request_from_value, parse_decision_request};
pub use webhooks::MAX_BODY_BYTES as MAX_WEBHOOK_BODY_BYTES;

/// A valid bundle in service, with what is needed to notice it changed.
#[derive(Debug)]
pub struct LoadedBundle {
    pub bundle: Bundle,
    /// [`bundle::fingerprint`] taken just before the bundle was read.
    pub fingerprint: u64,
    pub loaded_at: OffsetDateTime,
}

/// Fingerprints and loads the bundle at `path` on the blocking pool.
pub async fn load_bundle(path: &Path) -> Result<LoadedBundle, LoadError> {
    let path = path.to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        let fingerprint = bundle::fingerprint(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let bundle = bundle::load(&path)?;
        Ok(LoadedBundle {
            bundle,
            fingerprint,
            loaded_at: OffsetDateTime::now_utc(),
        })
    })
    .await;
    match joined {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Shared state of every handler and the reload task.
#[derive(Debug)]
pub struct AppState {
    store: Store,
    audit: AuditLog,
    gateway: config::GatewayConfig,
    /// The client for upstream model providers (connection pooling, rustls).
    http: reqwest::Client,
    /// Developer keys recently looked up.
    keys: gateway::keys::KeyCache,
    /// Budgets and rate limits of the bundle in service, with this replica's usage counters.
    meter: meter::Meter,
    bundle: ArcSwap<LoadedBundle>,
    bundle_path: PathBuf,
    reload_interval: Duration,
    /// The webhook receiver and its processor.
    webhooks: webhooks::Webhooks,
    /// The GitHub REST API client the gate posts its results with; `None` without a
    /// `github.token` (results are then decided and recorded, not posted).
    github: Option<github::GithubApi>,
    /// One recorder of raised alerts at a time.
    alert_lock: tokio::sync::Mutex<()>,
    /// What "now" is for deadlines (retro-reviews, alert grace periods); injectable in tests.
    clock: StateClock,
}

/// What an [`AppState`] is built with besides its store, audit log and bundle.
pub struct StateOptions {
    /// How often the bundle directory is checked for changes.
    pub reload_interval: Duration,
    /// The model providers the gateway forwards to.
    pub gateway: config::GatewayConfig,
    /// The webhook receiver's secrets (already resolved).
    pub webhooks: config::WebhooksConfig,
    /// The GitHub API client the gates post their results with.
    pub github: Option<github::GithubApi>,
    /// What "now" is for deadlines and alert grace periods (the system clock unless a test
    /// injects another).
    pub clock: Arc<dyn meter::Clock>,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            reload_interval: Duration::from_secs(2),
            gateway: config::GatewayConfig::default(),
            webhooks: config::WebhooksConfig::default(),
            github: None,
            clock: Arc::new(meter::SystemClock),
        }
    }
}

/// The state's clock (`Debug` for [`AppState`]).
#[derive(Clone)]
struct StateClock(Arc<dyn meter::Clock>);

impl std::fmt::Debug for StateClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateClock")
    }
}

impl AppState {
    pub fn new(
        store: Store,
        audit: AuditLog,
        bundle: LoadedBundle,
        bundle_path: PathBuf,
        reload_interval: Duration,
    ) -> Arc<AppState> {
        AppState::with_gateway(
            store,
            audit,
            bundle,
            bundle_path,
            reload_interval,
            config::GatewayConfig::default(),
        )
    }

    /// [`AppState::new`] with the gateway's upstreams.
    pub fn with_gateway(
        store: Store,
        audit: AuditLog,
        bundle: LoadedBundle,
        bundle_path: PathBuf,
        reload_interval: Duration,
        gateway: config::GatewayConfig,
    ) -> Arc<AppState> {
        AppState::with_webhooks(
            store,
            audit,
            bundle,
            bundle_path,
            reload_interval,
            gateway,
            config::WebhooksConfig::default(),
        )
    }

    /// [`AppState::with_gateway`] with the webhook receiver's secrets (already resolved; a
    /// forge without one refuses every delivery).
    pub fn with_webhooks(
        store: Store,
        audit: AuditLog,
        bundle: LoadedBundle,
        bundle_path: PathBuf,
        reload_interval: Duration,
        gateway: config::GatewayConfig,
        webhooks: config::WebhooksConfig,
    ) -> Arc<AppState> {
        AppState::with_github(
            store,
            audit,
            bundle,
            bundle_path,
            reload_interval,
            gateway,
            webhooks,
            None,
        )
    }

    /// [`AppState::with_webhooks`] with the GitHub API client the gate posts its results with
    /// (`None`: nothing is posted to GitHub).
    #[allow(clippy::too_many_arguments)]
    pub fn with_github(
        store: Store,
        audit: AuditLog,
        bundle: LoadedBundle,
        bundle_path: PathBuf,
        reload_interval: Duration,
        gateway: config::GatewayConfig,
        webhooks: config::WebhooksConfig,
        github: Option<github::GithubApi>,
    ) -> Arc<AppState> {
        AppState::build(
            store,
            audit,
            bundle,
            bundle_path,
            StateOptions {
                reload_interval,
                gateway,
                webhooks,
                github,
                ..StateOptions::default()
            },
        )
    }

    /// The state from its parts and [`StateOptions`].
    pub fn build(
        store: Store,
        audit: AuditLog,
        bundle: LoadedBundle,
        bundle_path: PathBuf,
        options: StateOptions,
    ) -> Arc<AppState> {
        let StateOptions {
            reload_interval,
            gateway,
            webhooks,
            github,
            clock,
        } = options;
        let connect_timeout = gateway
            .upstreams
            .iter()
            .map(|u| u.connect_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5));
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            // A gateway passes an upstream's redirect back; it never follows one with the
            // provider's credential attached.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Arc::new(AppState {
            store,
            audit,
            gateway,
            http,
            keys: Default::default(),
            meter: meter::Meter::new(&bundle.bundle.budgets),
            bundle: ArcSwap::from_pointee(bundle),
            bundle_path,
            reload_interval,
            webhooks: webhooks::Webhooks::new(webhooks),
            github,
            alert_lock: tokio::sync::Mutex::new(()),
            clock: StateClock(clock),
        })
    }

    /// The current time by the state's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.0.now()
    }

    /// The GitHub REST API client, if a token is configured.
    pub fn github(&self) -> Option<&github::GithubApi> {
        self.github.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The model providers the gateway forwards to.
    pub fn gateway(&self) -> &config::GatewayConfig {
        &self.gateway
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn keys(&self) -> &gateway::keys::KeyCache {
        &self.keys
    }

    /// Budgets and rate limits (see the `meter` crate).
    pub fn meter(&self) -> &meter::Meter {
        &self.meter
    }

    /// Records an event in the audit ledger (durable when this returns) and its details row.
    pub async fn record(&self, record: Record) -> Result<Recorded, audit::AuditError> {
        self.audit.record(record).await
    }

    /// The bundle in service right now.
    pub fn bundle(&self) -> Arc<LoadedBundle> {
        self.bundle.load_full()
    }

    pub fn bundle_path(&self) -> &Path {
        &self.bundle_path
    }

    /// Decides with the bundle in service and records the decision in the audit ledger
    /// (`policy_decision`, event `policy.decision`). A decision that cannot be recorded is an
    /// error: every decision must be auditable.
    pub async fn decide(
        &self,
        actor: &str,
        origin: ledger::Origin,
        request: &DecisionRequest,
    ) -> Result<Decision, audit::AuditError> {
        let loaded = self.bundle();
        let decision = loaded.bundle.engine.decide(request);
        let verdict = if decision.is_allowed() {
            ledger::Decision::Allow
        } else {
            ledger::Decision::Deny
        };
        self.record(
            Record::new(
                EntryKind::PolicyDecision,
                "policy.decision",
                actor,
                request.resource(),
                ledger::Outcome::Success,
            )
            .decision(verdict)
            .origin(origin)
            .field("action", request.action().as_str())
            .field("principal", request.principal())
            .field("bundle", loaded.bundle.digest.as_str())
            .details(serde_json::json!({
                "request": request,
                "decision": decision,
                "bundle_digest": loaded.bundle.digest,
            })),
        )
        .await?;
        Ok(decision)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("http server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The router with every route, for [`serve`] (and tests that want to drive it directly).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/api/v1/inventory", get(api::inventory))
        .route("/api/v1/inventory/{kind}", get(api::inventory_kind))
        .route("/api/v1/policies", get(api::policies))
        .route("/api/v1/bundle", get(api::bundle))
        .route("/api/v1/decide", post(api::decide))
        .route("/api/v1/keys", get(api::list_keys).post(api::create_key))
        .route(
            "/api/v1/keys/{name}",
            axum::routing::delete(api::revoke_key),
        )
        .route("/api/v1/alerts", get(api::alerts))
        .route(
            "/api/v1/deployments/authorizations",
            post(api::create_authorization),
        )
        .route(
            "/api/v1/deployments/authorization",
            get(api::get_authorization),
        )
        .route(
            "/api/v1/deployments/authorizations/{id}/revoke",
            post(api::revoke_authorization),
        )
        .route(
            "/api/v1/deployments/authorizations/{id}/retro-review",
            post(api::retro_review_authorization),
        )
        .route("/v1/chat/completions", post(gateway::chat_completions))
        .route("/v1/responses", post(gateway::responses))
        .route("/v1/embeddings", post(gateway::embeddings))
        .route("/v1/models", get(gateway::list_models))
        .route("/v1/models/{*id}", get(gateway::get_model))
        .route("/v1/messages", post(gateway::messages))
        .route("/v1/messages/count_tokens", post(gateway::count_tokens))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .route("/log/checkpoint", get(log::checkpoint))
        .route("/log/tile/{*rest}", get(log::tile))
        .route("/log/proof/{index}", get(log::proof))
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .fallback(api::not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then stops accepting, lets in-flight
/// requests finish, stops the bundle reload task and returns.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    reload::record_loaded(&state, &state.bundle(), "startup").await;
    let (stop_tx, stop_rx) = watch::channel(());
    let reloader = tokio::spawn(reload::run(state.clone(), stop_rx.clone()));
    let flusher = tokio::spawn(flush_usage(state.clone(), stop_rx.clone()));
    let processor = tokio::spawn(webhooks::process::run(state.clone(), stop_rx.clone()));
    let sweeper = tokio::spawn(alerts::run(state.clone(), stop_rx));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            drop(stop_tx);
        })
        .await;
    // Dropping the sender (here at the latest, if serving failed) stops the reload task, the
    // webhook processor (after its batch in progress) and the usage flusher, which flushes
    // once more.
    if let Err(e) = processor.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    if let Err(e) = sweeper.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    if let Err(e) = flusher.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    if let Err(e) = reloader.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    result.map_err(ServerError::Io)
}

/// How often this replica writes its usage counters and reads the other replicas'.
const USAGE_FLUSH: Duration = Duration::from_millis(250);

/// Flushes the meter's usage counters to the store every [`USAGE_FLUSH`] until `stop` is
/// dropped, then once more.
async fn flush_usage(state: Arc<AppState>, mut stop: watch::Receiver<()>) {
    let mut tick = tokio::time::interval(USAGE_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            changed = stop.changed() => changed.is_err(),
        };
        if let Err(e) = state.meter.flush(&state.store).await {
            tracing::warn!(error = %e, "cannot flush usage counters; retrying");
        }
        if stopping {
            return;
        }
    }
}

/// One log line per request: method, path, status, duration. Never headers (tokens live there).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    // Gateway requests have their ledger entries; at thousands per second a log line each
    // would cost more than the request.
    if path == "/healthz" || path == "/readyz" || path.starts_with("/v1/") {
        tracing::debug!(%method, %path, status, millis, "request");
    } else {
        tracing::info!(%method, %path, status, millis, "request");
    }
    response
}
