//! The audit ledger over HTTP, read-only, in the C2SP `tlog-tiles` layout under `/log/`:
//! `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, plus
//! `proof/<index>`, a C2SP `tlog-proof@v1` for one entry against the newest checkpoint.
//!
//! Reads are not themselves recorded: a tile client fetching the log would otherwise grow it
//! with every fetch.

use std::sync::Arc;

use audit::tiles::{self, TileError, TilePath};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use store::{CheckpointRecord, LedgerStore as _};

use crate::auth::ApiAdmin;
use crate::{AppError, AppState};

/// Full tiles and bundles never change once they exist.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint and partial tiles move on.
const FRESH: &str = "no-cache";

async fn newest_checkpoint(state: &AppState) -> Result<CheckpointRecord, AppError> {
    state
        .store()
        .ledger_checkpoints()
        .await?
        .pop()
        .ok_or_else(|| {
            AppError::NotFound(
                "the audit log has no checkpoint yet; one is signed within a second of the first entry"
                    .to_owned(),
            )
        })
}

/// `GET /log/checkpoint`: the newest signed checkpoint, byte for byte.
pub(crate) async fn checkpoint(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
) -> Result<Response, AppError> {
    let record = newest_checkpoint(&state).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (CACHE_CONTROL, FRESH),
        ],
        record.note,
    )
        .into_response())
}

/// `GET /log/tile/...`: a hash tile or an entry bundle of the current log.
pub(crate) async fn tile(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(rest): Path<String>,
) -> Result<Response, AppError> {
    let path = format!("tile/{rest}");
    let tile = TilePath::parse(&path).map_err(|e| AppError::NotFound(e.to_string()))?;
    let size = state.store().ledger_head().await?.size;
    let (bytes, partial) = match tile {
        TilePath::Hash(id) => (
            tiles::read_tile(state.store(), id, size).await,
            id.is_partial(),
        ),
        TilePath::Entries { index, width } => (
            tiles::read_entry_bundle(state.store(), index, width, size).await,
            u64::from(width) < ledger::TILE_WIDTH,
        ),
    };
    let bytes = bytes.map_err(tile_error)?;
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream"),
            (CACHE_CONTROL, if partial { FRESH } else { IMMUTABLE }),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /log/proof/<index>`: a `tlog-proof@v1` for the entry against the newest checkpoint.
pub(crate) async fn proof(
    _: ApiAdmin,
    State(state): State<Arc<AppState>>,
    Path(index): Path<String>,
) -> Result<Response, AppError> {
    let index: u64 = index.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "`{index}` is not an entry index; expected a decimal number such as `/log/proof/42`"
        ))
    })?;
    let checkpoint = newest_checkpoint(&state).await?;
    if index >= checkpoint.size {
        return Err(AppError::NotFound(format!(
            "entry {index} is not covered by the newest checkpoint (size {}); retry after the next checkpoint",
            checkpoint.size
        )));
    }
    let text = tiles::tlog_proof(state.store(), index, &checkpoint)
        .await
        .map_err(tile_error)?;
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (CACHE_CONTROL, FRESH),
        ],
        text,
    )
        .into_response())
}

fn tile_error(e: TileError) -> AppError {
    match e {
        TileError::NotFound { .. } | TileError::IndexOutOfRange { .. } => {
            AppError::NotFound(e.to_string())
        }
        TileError::Store(e) => AppError::Store(e),
        other => AppError::Internal(other.to_string()),
    }
}
