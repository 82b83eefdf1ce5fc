//! The meter: the bundle's budgets, in-memory counters per (scope, window), checks, reservations
//! and the periodic flush that shares counts with the other replicas through the store.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use model::{Budget, BudgetState, BudgetUse, Budgets, Dimension, Metric};
use store::{StoreError, UsageDelta, UsageKey, UsageStore, UsageTotals};

use crate::dims::Dimensions;
use crate::window::{Clock, SystemClock, bounds, rfc3339};

/// Number of independently locked counter maps.
const SHARDS: usize = 16;
/// A counter unused for this long (seconds) is dropped from memory once it has nothing to
/// flush; the next request that needs it reads it again (see [`Meter::flush`]).
const IDLE_SECS: i64 = 600;
/// How often (seconds) a flush also deletes stored counters of ended windows.
const PRUNE_EVERY_SECS: i64 = 600;
/// Stored counters are deleted this long (seconds) after their window ended.
const PRUNE_AFTER_SECS: i64 = 3_600;

#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("cannot flush usage counters: {0}")]
    Store(#[from] StoreError),
}

/// What a request is expected to use, known before it is sent: the request itself, its prompt
/// tokens and their cost (see [`crate::estimate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    pub tokens: u64,
    pub cost_micro_usd: u64,
}

impl Estimate {
    fn get(&self, metric: Metric) -> u64 {
        match metric {
            Metric::CostUsd => self.cost_micro_usd,
            Metric::Tokens => self.tokens,
            Metric::Requests => 1,
        }
    }
}

/// One counter: a budget scope in one window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    scope: String,
    window_start: i64,
}

/// A budget that applies to a request, and the counter it counts in.
#[derive(Debug, Clone)]
struct Slot {
    budget: usize,
    key: Key,
    window_end: i64,
}

#[derive(Debug, Default)]
struct Counter {
    window_end: i64,
    /// The total in the store when last read: every replica's flushed usage.
    stored: UsageTotals,
    /// Written by a flush of this replica, not yet seen in `stored`.
    unconfirmed: UsageTotals,
    /// Being written by the running flush.
    flushing: UsageTotals,
    /// Not written yet.
    pending: UsageTotals,
    /// Estimates of this replica's requests in flight (never written; replaced by the actual
    /// usage when they finish).
    reserved: UsageTotals,
    last_used: i64,
}

impl Counter {
    fn used(&self) -> UsageTotals {
        let mut t = self.stored;
        for part in [self.unconfirmed, self.flushing, self.pending, self.reserved] {
            add(&mut t, part);
        }
        t
    }
    fn is_settled(&self) -> bool {
        let zero = UsageTotals::default();
        self.unconfirmed == zero
            && self.flushing == zero
            && self.pending == zero
            && self.reserved == zero
    }
}

fn add(t: &mut UsageTotals, d: UsageTotals) {
    t.requests = t.requests.saturating_add(d.requests);
    t.tokens = t.tokens.saturating_add(d.tokens);
    t.cost_micro_usd = t.cost_micro_usd.saturating_add(d.cost_micro_usd);
}

fn sub(t: &mut UsageTotals, d: UsageTotals) {
    t.requests = t.requests.saturating_sub(d.requests);
    t.tokens = t.tokens.saturating_sub(d.tokens);
    t.cost_micro_usd = t.cost_micro_usd.saturating_sub(d.cost_micro_usd);
}

fn metric_of(t: &UsageTotals, m: Metric) -> u64 {
    match m {
        Metric::CostUsd => t.cost_micro_usd,
        Metric::Tokens => t.tokens,
        Metric::Requests => t.requests,
    }
}

/// A budget with its key prefix (`name|window|`) and `per` labels (`developer=`) precomputed.
struct Compiled {
    budget: Budget,
    prefix: String,
    labels: Vec<String>,
}

struct Inner {
    budgets: ArcSwap<Vec<Compiled>>,
    clock: Arc<dyn Clock>,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<Key, Counter>>>,
    flush_lock: tokio::sync::Mutex<FlushState>,
}

#[derive(Default)]
struct FlushState {
    last_prune: i64,
}

impl Inner {
    fn shard(&self, key: &Key) -> MutexGuard<'_, HashMap<Key, Counter>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Budgets and rate limits of the bundle in service, with this replica's view of the usage.
/// Clone freely (one shared state).
///
/// Per request: [`check`](Meter::check) before the policy decision (its `state` goes into the
/// `SendPrompt` context), [`reserve`](Meter::reserve) when the request is sent upstream, and
/// [`Reservation::record`] with the usage the upstream reported. [`flush`](Meter::flush) on an
/// interval shares the counts with the other replicas.
#[derive(Clone)]
pub struct Meter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("budgets", &self.inner.budgets.load().len())
            .finish_non_exhaustive()
    }
}

/// The outcome of [`Meter::check`]: the budget state for the policy decision, and the counters
/// the request would count in (for [`Meter::reserve`]).
#[derive(Debug, Clone)]
pub struct Check {
    pub state: BudgetState,
    slots: Vec<Slot>,
    estimate: Estimate,
}

/// A request counted against its budgets while it runs. [`record`](Reservation::record) it
/// with the usage the upstream reported, or [`release`](Reservation::release) it when the
/// provider never took it on; dropped unsettled (no usage reported, or abandoned after it was
/// sent), it counts as one request plus its estimate.
pub struct Reservation {
    inner: Arc<Inner>,
    slots: Vec<Slot>,
    estimate: UsageTotals,
    done: bool,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("counters", &self.slots.len())
            .field("estimate", &self.estimate)
            .finish()
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Counters whose deltas were written.
    pub written: usize,
    /// Counters whose totals were read back.
    pub refreshed: usize,
    /// Counters dropped from memory (window ended or idle, nothing to flush).
    pub evicted: usize,
    /// Stored counters of long-ended windows deleted.
    pub pruned: u64,
}

impl Meter {
    /// A meter for `budgets` reading the system clock.
    pub fn new(budgets: &Budgets) -> Meter {
        Meter::with_clock(budgets, Arc::new(SystemClock))
    }

    pub fn with_clock(budgets: &Budgets, clock: Arc<dyn Clock>) -> Meter {
        Meter {
            inner: Arc::new(Inner {
                budgets: ArcSwap::from_pointee(compile(budgets)),
                clock,
                hasher: Default::default(),
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                flush_lock: tokio::sync::Mutex::new(FlushState::default()),
            }),
        }
    }

    /// Puts a reloaded bundle's budgets in service. Counts are kept per budget name and
    /// window kind: an unchanged budget keeps its usage; a renamed one starts at zero.
    pub fn set_budgets(&self, budgets: &Budgets) {
        self.inner.budgets.store(Arc::new(compile(budgets)));
    }

    /// The budget state of a request before it is sent: whether any limit is reached or would
    /// be exceeded by it (spent so far plus `estimate`, plus one request), and the limit it is
    /// closest to. Reads memory only.
    pub fn check(&self, dims: &Dimensions<'_>, estimate: Estimate) -> Check {
        let now = self.inner.clock.now();
        let budgets = self.inner.budgets.load();
        let mut slots = Vec::new();
        for (i, b) in budgets.iter().enumerate() {
            let (start, end) = bounds(b.budget.window, now);
            for scope in scopes(b, dims) {
                slots.push(Slot {
                    budget: i,
                    key: Key {
                        scope,
                        window_start: start,
                    },
                    window_end: end,
                });
            }
        }
        let mut best: Option<(Rank, usize, Metric, u64, u64)> = None;
        let mut best_cost: Option<(f64, u64, u64)> = None;
        let mut exceeded = false;
        for (si, slot) in slots.iter().enumerate() {
            let used = self
                .inner
                .shard(&slot.key)
                .get(&slot.key)
                .map(Counter::used)
                .unwrap_or_default();
            for (metric, limit) in budgets[slot.budget].budget.limit.iter() {
                let spent = metric_of(&used, metric);
                let after = spent.saturating_add(estimate.get(metric));
                // Spent, or would be by this request (a request without an estimate is refused
                // once the limit is reached).
                let over = spent >= limit || after > limit;
                exceeded |= over;
                let fraction = if limit == 0 {
                    f64::INFINITY
                } else {
                    after as f64 / limit as f64
                };
                let rank = Rank {
                    over,
                    // When over, the limit that blocks longest is the one to tell about.
                    resets: if over { slot.window_end } else { 0 },
                    fraction,
                };
                if best.as_ref().is_none_or(|(r, ..)| rank.beats(r)) {
                    best = Some((rank, si, metric, spent, limit));
                }
                if metric == Metric::CostUsd && best_cost.is_none_or(|(f, ..)| fraction > f) {
                    best_cost = Some((fraction, spent, limit));
                }
            }
        }
        let mut state = BudgetState {
            exceeded,
            ..BudgetState::default()
        };
        if let Some((_, spent, limit)) = best_cost {
            state.spent_cents = spent / 10_000;
            state.limit_cents = limit.div_ceil(10_000);
        }
        if let Some((_, si, metric, spent, limit)) = best {
            let slot = &slots[si];
            let b = &budgets[slot.budget];
            let use_ = BudgetUse {
                budget: b.budget.name.clone(),
                scope: slot.key.scope[b.prefix.len()..].replace('|', ","),
                metric,
                spent,
                limit,
                window: b.budget.window,
                resets_at: rfc3339(slot.window_end),
            };
            state.name = use_.budget.clone();
            state.used_percent = use_.used_percent();
            state.tightest = Some(use_);
        }
        Check {
            state,
            slots,
            estimate,
        }
    }

    /// Counts the checked request as sent: one request now (flushed with the next batch), and
    /// its estimate until [`Reservation::record`] replaces it with the actual usage. Usage is
    /// counted in the windows current at the check, even if the response ends in the next.
    pub fn reserve(&self, check: &Check) -> Reservation {
        let now = self.inner.clock.now().unix_timestamp();
        let estimate = UsageTotals {
            requests: 0,
            tokens: check.estimate.tokens,
            cost_micro_usd: check.estimate.cost_micro_usd,
        };
        for slot in &check.slots {
            let mut shard = self.inner.shard(&slot.key);
            let c = shard.entry(slot.key.clone()).or_default();
            c.window_end = slot.window_end;
            c.pending.requests = c.pending.requests.saturating_add(1);
            add(&mut c.reserved, estimate);
            c.last_used = now;
        }
        Reservation {
            inner: self.inner.clone(),
            slots: check.slots.clone(),
            estimate,
            done: false,
        }
    }

    /// Writes this replica's pending usage in one batch (one transaction), then reads back the
    /// totals of every counter in memory, which now include the other replicas' flushed usage.
    /// Run it on an interval (e.g. every 250 ms) and at shutdown. Concurrent calls run one after
    /// the other. On a store error nothing is lost: unwritten deltas are retried next time.
    ///
    /// Across replicas enforcement is approximate: a replica sees another's usage at most one
    /// flush interval after that replica counted it plus one interval until its own next flush,
    /// and a counter it has not used for 10 minutes (or never) is read at its next flush, so
    /// until then it counts only its own usage.
    pub async fn flush<S: UsageStore + Sync>(&self, store: &S) -> Result<FlushStats, MeterError> {
        let mut state = self.inner.flush_lock.lock().await;
        let now = self.inner.clock.now().unix_timestamp();
        let mut stats = FlushStats::default();
        let mut deltas = Vec::new();
        let mut keys = Vec::new();
        for shard in &self.inner.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.len();
            shard.retain(|_, c| {
                !(c.is_settled() && (c.window_end <= now || c.last_used <= now - IDLE_SECS))
            });
            stats.evicted += before - shard.len();
            for (k, c) in shard.iter_mut() {
                if c.pending != UsageTotals::default() {
                    c.flushing = std::mem::take(&mut c.pending);
                    deltas.push(UsageDelta {
                        key: UsageKey {
                            scope: k.scope.clone(),
                            window_start: k.window_start,
                        },
                        window_end: c.window_end,
                        add: c.flushing,
                    });
                }
                keys.push(UsageKey {
                    scope: k.scope.clone(),
                    window_start: k.window_start,
                });
            }
        }
        stats.written = deltas.len();
        if !deltas.is_empty() {
            let written = store.usage_add(deltas.clone()).await;
            for d in &deltas {
                let key = Key {
                    scope: d.key.scope.clone(),
                    window_start: d.key.window_start,
                };
                let mut shard = self.inner.shard(&key);
                if let Some(c) = shard.get_mut(&key) {
                    let flushing = std::mem::take(&mut c.flushing);
                    if written.is_ok() {
                        add(&mut c.unconfirmed, flushing);
                    } else {
                        add(&mut c.pending, flushing);
                    }
                }
            }
            written?;
        }
        // Every write of this replica finished before this read, so the totals include them.
        let totals = store.usage_totals(keys.clone()).await?;
        stats.refreshed = keys.len();
        for (k, t) in keys.into_iter().zip(totals) {
            let key = Key {
                scope: k.scope,
                window_start: k.window_start,
            };
            if let Some(c) = self.inner.shard(&key).get_mut(&key) {
                c.stored = t;
                c.unconfirmed = UsageTotals::default();
            }
        }
        if now - state.last_prune >= PRUNE_EVERY_SECS {
            stats.pruned = store.usage_prune(now - PRUNE_AFTER_SECS).await?;
            state.last_prune = now;
        }
        Ok(stats)
    }
}

impl Reservation {
    /// Replaces the estimate with the usage the upstream reported and its cost
    /// ([`crate::cost`]). The request itself was counted by [`Meter::reserve`].
    pub fn record(mut self, tokens: u64, cost_micro_usd: u64) {
        self.finish(UsageTotals {
            requests: 0,
            tokens,
            cost_micro_usd,
        });
    }

    /// The provider never took the request on (no connection): only the request counts, no
    /// tokens and no cost.
    pub fn release(mut self) {
        self.finish(UsageTotals::default());
    }

    fn finish(&mut self, actual: UsageTotals) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let now = self.inner.clock.now().unix_timestamp();
        for slot in &self.slots {
            let mut shard = self.inner.shard(&slot.key);
            let c = shard.entry(slot.key.clone()).or_default();
            c.window_end = slot.window_end;
            sub(&mut c.reserved, self.estimate);
            add(&mut c.pending, actual);
            c.last_used = now;
        }
    }
}

impl Drop for Reservation {
    /// Unsettled (the provider reported no usage, or the request was abandoned after it was
    /// sent): the estimate stays counted. Fail closed: a request that may have used tokens
    /// never counts as free.
    fn drop(&mut self) {
        let estimate = self.estimate;
        self.finish(estimate);
    }
}

/// How a candidate limit ranks for "the budget to tell about".
#[derive(Debug, Clone, Copy)]
struct Rank {
    over: bool,
    resets: i64,
    fraction: f64,
}

impl Rank {
    fn beats(&self, other: &Rank) -> bool {
        (self.over, self.resets, self.fraction) > (other.over, other.resets, other.fraction)
    }
}

fn compile(budgets: &Budgets) -> Vec<Compiled> {
    budgets
        .budgets
        .iter()
        .map(|b| Compiled {
            prefix: format!("{}|{}|", b.name, b.window),
            labels: b.per.iter().map(|d| format!("{d}=")).collect(),
            budget: b.clone(),
        })
        .collect()
}

/// The request's values of `d`; empty when it has none.
fn values<'a>(d: &Dimension, dims: &Dimensions<'a>) -> Vec<&'a str> {
    match d {
        Dimension::Developer => vec![dims.developer],
        Dimension::Team => dims.teams.clone(),
        Dimension::Tool => vec![dims.tool],
        Dimension::Model => vec![dims.model],
        Dimension::Repo => dims.repo.into_iter().collect(),
        Dimension::Tag(key) => dims.tag(key).into_iter().collect(),
    }
    .into_iter()
    .filter(|v| !v.is_empty())
    .collect()
}

/// The counter scopes (`name|window|dim=value|…`) a request counts in for budget `b`: none if
/// a filter does not match or a `per` dimension has no value; several for a person in
/// several teams.
fn scopes(b: &Compiled, dims: &Dimensions<'_>) -> Vec<String> {
    let budget = &b.budget;
    for f in &budget.filters {
        if !values(&f.dimension, dims)
            .iter()
            .any(|v| f.values.iter().any(|w| w == v))
        {
            return Vec::new();
        }
    }
    let mut out = vec![b.prefix.clone()];
    for (i, d) in budget.per.iter().enumerate() {
        let mut vals = values(d, dims);
        // A `where` on the same dimension also limits which values get a count.
        if let Some(f) = budget.filters.iter().find(|f| f.dimension == *d) {
            vals.retain(|v| f.values.iter().any(|w| w == v));
        }
        if vals.is_empty() {
            return Vec::new();
        }
        let mut next = Vec::with_capacity(out.len() * vals.len());
        for prefix in &out {
            for v in &vals {
                let mut s = prefix.clone();
                if i > 0 {
                    s.push('|');
                }
                s.push_str(&b.labels[i]);
                escape_into(&mut s, v);
                next.push(s);
            }
        }
        out = next;
    }
    out
}

/// Values may hold anything but `|` (the separator) and `%` (the escape) stay unambiguous.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '|' => out.push_str("%7C"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
}
