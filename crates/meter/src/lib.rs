//! Budgets and rate limits for the AI gateway: what a request costs (the price table), and
//! whether the budgets of the bundle in service allow it.
//!
//! Enforcement is in memory: [`Meter::check`] and [`Meter::reserve`] touch only this
//! replica's counters (a few hundred nanoseconds), and [`Meter::flush`] exchanges counts with
//! the other replicas through the store (`usage_counters`) on an interval. Counters are keyed
//! by budget scope (budget name, window kind and the request's values of the budget's `per`
//! dimensions) and calendar window (UTC).
//!
//! ```text
//! let dims = Dimensions { developer, teams: inventory.teams_of(developer), tool, model, repo, tags };
//! let check = meter.check(&dims, meter::estimate(&prices, model, prompt_tokens));
//! context.budget = check.state.clone();             // → policy decision (`budget-exceeded`)
//! let reservation = meter.reserve(&check);          // only if allowed and sent upstream
//! …                                                 // upstream answers (or streams, or fails)
//! reservation.record(usage.total_tokens(), meter::cost(&prices, model, &usage));
//! ```

mod cost;
mod dims;
mod meter;
mod window;

pub use cost::{Usage, cost};
pub use dims::{Dimensions, MAX_TAG_VALUE, MAX_TAGS, TagError, parse_tags};
pub use meter::{Check, Estimate, FlushStats, Meter, MeterError, Reservation};
pub use window::{Clock, ManualClock, SystemClock, rfc3339};

/// The estimate of a request before it is sent: its prompt tokens, priced as uncached input.
pub fn estimate(prices: &model::PriceTable, model: &str, prompt_tokens: u64) -> Estimate {
    let usage = Usage {
        input_tokens: prompt_tokens,
        ..Usage::default()
    };
    Estimate {
        tokens: prompt_tokens,
        cost_micro_usd: cost(prices, model, &usage),
    }
}
