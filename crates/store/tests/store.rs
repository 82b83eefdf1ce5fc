//! The store's one integration test binary: every test runs the same assertions against each
//! backend (SQLite always; PostgreSQL when `AIGOV_TEST_POSTGRES_URL` is set).

#[path = "store/alerts.rs"]
mod alerts;
#[path = "store/changes.rs"]
mod changes;
#[path = "store/common.rs"]
mod common;
#[path = "store/deploys.rs"]
mod deploys;
#[path = "store/events.rs"]
mod events;
#[path = "store/ledger_search.rs"]
mod ledger_search;
#[path = "store/schema.rs"]
mod schema;
#[path = "store/tokens.rs"]
mod tokens;
#[path = "store/usage.rs"]
mod usage;
