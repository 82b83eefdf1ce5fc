//! Developer keys as the gateway sees them: looked up by hash in the store and cached for a
//! short time, so the hot path does not wait for the database on every request.
//!
//! A key revoked in the store (by `aigov key revoke`, on any replica) stops working within
//! [`KEY_CACHE_TTL`]. Unknown keys are not cached: each attempt is checked against the store.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use store::{StoreError, TokenKind, TokenStore as _};

/// How long a looked-up key is trusted before it is checked again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Most cached keys; the cache is emptied when it is full (keys are re-read on demand).
const MAX_CACHED: usize = 100_000;

/// Who is calling, from their developer key.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) person: String,
    /// The key's name (never the key).
    pub(crate) key: String,
    pub(crate) default_repo: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<String, (Caller, Instant)>>,
}

impl KeyCache {
    /// The active developer key with this hash, if any.
    pub(crate) async fn lookup(
        &self,
        store: &store::Store,
        hash: String,
    ) -> Result<Option<Caller>, StoreError> {
        let now = Instant::now();
        if let Some((caller, at)) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            && now.duration_since(*at) < KEY_CACHE_TTL
        {
            return Ok(Some(caller.clone()));
        }
        let caller = match store.active_token_by_hash(&hash).await? {
            Some(t) if t.kind == TokenKind::Developer => Caller {
                person: t.person.unwrap_or_default(),
                key: t.name,
                default_repo: t.repo,
            },
            _ => {
                self.entries
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&hash);
                return Ok(None);
            }
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(hash, (caller.clone(), now));
        Ok(Some(caller))
    }
}
