//! PostgreSQL side of the alert store (`crate::alerts`).

use time::OffsetDateTime;
use tokio_postgres::Row;

use super::PgStore as Postgres;
use crate::alerts::{AlertState, COLUMNS, NewAlert, Query, StoredAlert};
use crate::changes::unix_micros;
use crate::{StoreError, to_i64, to_u64};

fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| StoreError::InvalidData(format!("alert due time {us} out of range: {e}")))
}

fn alert(row: &Row) -> Result<StoredAlert, StoreError> {
    let state: String = row.try_get(3)?;
    Ok(StoredAlert {
        id: to_u64("alert id", row.try_get(0)?)?,
        kind: row.try_get(1)?,
        key: row.try_get(2)?,
        state: state.parse()?,
        subject: row.try_get(4)?,
        summary: row.try_get(5)?,
        details: row.try_get(6)?,
        created_at: row.try_get(7)?,
        due: row
            .try_get::<_, Option<i64>>(8)?
            .map(from_micros)
            .transpose()?,
        raised_at: row.try_get(9)?,
        ledger_index: row
            .try_get::<_, Option<i64>>(10)?
            .map(|i| to_u64("ledger index", i))
            .transpose()?,
        resolution: row.try_get(11)?,
    })
}

impl Postgres {
    pub(crate) async fn add_alerts(
        &self,
        alerts: Vec<NewAlert>,
        now: OffsetDateTime,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare(
                "INSERT INTO alerts (kind, alert_key, state, subject, summary, details,
                                     created_at, due_us, raised_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (alert_key) DO NOTHING
                 RETURNING id",
            )
            .await?;
        let mut out = Vec::with_capacity(alerts.len());
        for a in &alerts {
            let state = if a.due.is_some() {
                AlertState::Pending
            } else {
                AlertState::Open
            };
            let raised = a.due.is_none().then_some(now);
            let row = tx
                .query_opt(
                    &stmt,
                    &[
                        &a.kind,
                        &a.key,
                        &state.as_str(),
                        &a.subject,
                        &a.summary,
                        &a.details,
                        &now,
                        &a.due.map(unix_micros),
                        &raised,
                    ],
                )
                .await?;
            out.push(
                row.map(|r| r.try_get::<_, i64>(0))
                    .transpose()?
                    .map(|i| to_u64("alert id", i))
                    .transpose()?,
            );
        }
        tx.commit().await?;
        Ok(out)
    }

    pub(crate) async fn select_alerts(
        &self,
        query: Query,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let client = self.client().await?;
        let limit = i64::from(limit);
        let rows = match query {
            Query::Due(now) => {
                client
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM alerts WHERE state = 'pending' AND due_us <= $1
                             ORDER BY id LIMIT $2"
                        ),
                        &[&unix_micros(now), &limit],
                    )
                    .await?
            }
            Query::Unrecorded => {
                client
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM alerts
                             WHERE state = 'open' AND ledger_index IS NULL ORDER BY id LIMIT $1"
                        ),
                        &[&limit],
                    )
                    .await?
            }
            Query::List(state) => {
                let state = state.map(AlertState::as_str);
                client
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM alerts WHERE ($1::text IS NULL OR state = $1)
                             ORDER BY id DESC LIMIT $2"
                        ),
                        &[&state, &limit],
                    )
                    .await?
            }
        };
        rows.iter().map(alert).collect()
    }

    pub(crate) async fn raise_alert(
        &self,
        id: u64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let id = to_i64("alert id", id)?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE alerts SET state = 'open', raised_at = $2 WHERE id = $1 AND state = 'pending'",
                &[&id, &now],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn dismiss_alert(
        &self,
        id: u64,
        resolution: String,
    ) -> Result<bool, StoreError> {
        let id = to_i64("alert id", id)?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE alerts SET state = 'dismissed', resolution = $2
                 WHERE id = $1 AND state <> 'dismissed'",
                &[&id, &resolution],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_alert_ledger_index(
        &self,
        id: u64,
        index: u64,
    ) -> Result<(), StoreError> {
        let id = to_i64("alert id", id)?;
        let index = to_i64("ledger index", index)?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE alerts SET ledger_index = $2 WHERE id = $1",
                &[&id, &index],
            )
            .await?;
        Ok(())
    }
}
