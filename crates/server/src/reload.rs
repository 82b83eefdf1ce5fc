//! Bundle hot reload: poll the bundle's fingerprint; on a change load it, swap a valid bundle in,
//! and keep serving the last good one when the new one is invalid. Every outcome is an event.

use std::sync::Arc;

use audit::Record;
use bundle::LoadError;
use ledger::{EntryKind, Outcome};
use model::Diagnostic;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::{AppState, LoadedBundle};

/// Runs until `stop`'s sender is dropped (or sends).
pub(crate) async fn run(state: Arc<AppState>, mut stop: watch::Receiver<()>) {
    let mut ticker = tokio::time::interval(state.reload_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate
    // The fingerprint last acted on, valid or not, so a rejected bundle is reported once.
    let mut seen = state.bundle().fingerprint;
    let mut fingerprint_failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        let path = state.bundle_path.clone();
        let fingerprint = tokio::task::spawn_blocking(move || bundle::fingerprint(&path)).await;
        let fingerprint = match fingerprint {
            Ok(Ok(fp)) => {
                fingerprint_failing = false;
                fp
            }
            Ok(Err(e)) => {
                if !fingerprint_failing {
                    tracing::warn!(path = %state.bundle_path.display(), error = %e, "cannot check the bundle for changes; still serving the last good bundle");
                    fingerprint_failing = true;
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "bundle fingerprint task failed");
                continue;
            }
        };
        if fingerprint == seen {
            continue;
        }
        // Files that change again while loading give a new fingerprint next tick: reloaded then.
        seen = fingerprint;
        reload(&state).await;
    }
    tracing::debug!("bundle reload task stopped");
}

async fn reload(state: &AppState) {
    let path = &state.bundle_path;
    tracing::info!(path = %path.display(), "bundle changed; reloading");
    match crate::load_bundle(path).await {
        Ok(loaded) => {
            tracing::info!(
                digest = %loaded.bundle.digest,
                policies = loaded.bundle.engine.policies().len(),
                warnings = loaded.bundle.warnings.len(),
                "bundle reloaded"
            );
            log_diagnostics(&loaded.bundle.warnings);
            record_loaded(state, &loaded, "reload").await;
            state.meter().set_budgets(&loaded.bundle.budgets);
            state.bundle.store(Arc::new(loaded));
        }
        Err(LoadError::Invalid(diagnostics)) => {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            tracing::error!(path = %path.display(), errors, "bundle rejected; still serving the last good bundle");
            log_diagnostics(&diagnostics);
            let payload = serde_json::json!({
                "path": path.display().to_string(),
                "serving_digest": state.bundle().bundle.digest,
                "diagnostics": diagnostics,
            });
            record(state, "bundle.rejected", Outcome::Failure, None, payload).await;
        }
        Err(e @ LoadError::Io { .. }) => {
            tracing::error!(error = %e, "bundle rejected; still serving the last good bundle");
            let payload = serde_json::json!({
                "path": path.display().to_string(),
                "serving_digest": state.bundle().bundle.digest,
                "error": e.to_string(),
            });
            record(state, "bundle.rejected", Outcome::Failure, None, payload).await;
        }
    }
}

/// Records a `bundle.loaded` event for the bundle now in service.
pub(crate) async fn record_loaded(state: &AppState, loaded: &LoadedBundle, trigger: &str) {
    let payload = serde_json::json!({
        "trigger": trigger,
        "path": state.bundle_path.display().to_string(),
        "digest": loaded.bundle.digest,
        "policies": loaded.bundle.engine.policies().len(),
        "warnings": loaded.bundle.warnings,
    });
    let digest = loaded.bundle.digest.clone();
    record(
        state,
        "bundle.loaded",
        Outcome::Success,
        Some(digest),
        payload,
    )
    .await;
}

/// Records a bundle change in the audit ledger (`bundle_change`). A failure is logged: the
/// bundle in service does not depend on it, and the next change is recorded again.
async fn record(
    state: &AppState,
    event: &str,
    outcome: Outcome,
    digest: Option<String>,
    details: serde_json::Value,
) {
    let mut record = Record::new(
        EntryKind::BundleChange,
        event,
        "aigov",
        state.bundle_path.display().to_string(),
        outcome,
    )
    .details(details);
    if let Some(digest) = digest {
        record = record.field("bundle", digest);
    }
    if let Err(e) = state.record(record).await {
        tracing::error!(error = %e, event, "cannot record bundle event in the audit ledger");
    }
}

fn log_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        if d.is_error() {
            tracing::error!("{d}");
        } else {
            tracing::warn!("{d}");
        }
    }
}
