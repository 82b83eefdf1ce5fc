//! SQLite side of the alert store (`crate::alerts`).

use rusqlite::{OptionalExtension as _, Row, params};
use time::OffsetDateTime;

use super::{SqliteStore as Sqlite, format_time, parse_time};
use crate::alerts::{AlertState, COLUMNS, NewAlert, Query, StoredAlert};
use crate::changes::unix_micros;
use crate::{StoreError, to_i64, to_u64};

fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| StoreError::InvalidData(format!("alert due time {us} out of range: {e}")))
}

fn alert(row: &Row<'_>) -> Result<StoredAlert, StoreError> {
    let details: String = row.get(6)?;
    let created_at: String = row.get(7)?;
    let raised_at: Option<String> = row.get(9)?;
    let state: String = row.get(3)?;
    Ok(StoredAlert {
        id: to_u64("alert id", row.get(0)?)?,
        kind: row.get(1)?,
        key: row.get(2)?,
        state: state.parse()?,
        subject: row.get(4)?,
        summary: row.get(5)?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::InvalidData(format!("malformed alert details: {e}")))?,
        created_at: parse_time(&created_at)?,
        due: row.get::<_, Option<i64>>(8)?.map(from_micros).transpose()?,
        raised_at: raised_at.as_deref().map(parse_time).transpose()?,
        ledger_index: row
            .get::<_, Option<i64>>(10)?
            .map(|i| to_u64("ledger index", i))
            .transpose()?,
        resolution: row.get(11)?,
    })
}

impl Sqlite {
    pub(crate) async fn add_alerts(
        &self,
        alerts: Vec<NewAlert>,
        now: OffsetDateTime,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let now_text = format_time(now)?;
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(alerts.len());
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO alerts (kind, alert_key, state, subject, summary, details,
                                         created_at, due_us, raised_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (alert_key) DO NOTHING
                     RETURNING id",
                )?;
                for a in &alerts {
                    let state = if a.due.is_some() {
                        AlertState::Pending
                    } else {
                        AlertState::Open
                    };
                    let raised = a.due.is_none().then(|| now_text.clone());
                    let id: Option<i64> = stmt
                        .query_row(
                            params![
                                a.kind,
                                a.key,
                                state.as_str(),
                                a.subject,
                                a.summary,
                                a.details.to_string(),
                                now_text,
                                a.due.map(unix_micros),
                                raised,
                            ],
                            |r| r.get(0),
                        )
                        .optional()?;
                    out.push(id.map(|i| to_u64("alert id", i)).transpose()?);
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn select_alerts(
        &self,
        query: Query,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        self.read(move |c| {
            let (filter, order) = match query {
                Query::Due(_) => ("state = 'pending' AND due_us <= ?1", "id"),
                Query::Unrecorded => ("state = 'open' AND ledger_index IS NULL", "id"),
                Query::List(None) => ("?1 IS NULL", "id DESC"),
                Query::List(Some(_)) => ("state = ?1", "id DESC"),
            };
            let arg: Option<String> = match query {
                Query::Due(now) => Some(unix_micros(now).to_string()),
                Query::List(Some(s)) => Some(s.as_str().to_owned()),
                _ => None,
            };
            let sql = format!(
                "SELECT {COLUMNS} FROM alerts WHERE {filter} ORDER BY {order} LIMIT {limit}"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = match (query, arg) {
                (Query::Due(now), _) => stmt.query(params![unix_micros(now)])?,
                (Query::Unrecorded, _) => stmt.query([])?,
                (Query::List(_), arg) => stmt.query(params![arg])?,
            };
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(alert(row)?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn raise_alert(
        &self,
        id: u64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let id = to_i64("alert id", id)?;
        let now = format_time(now)?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE alerts SET state = 'open', raised_at = ?2
                 WHERE id = ?1 AND state = 'pending'",
                params![id, now],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub(crate) async fn dismiss_alert(
        &self,
        id: u64,
        resolution: String,
    ) -> Result<bool, StoreError> {
        let id = to_i64("alert id", id)?;
        self.write(move |c| {
            let n = c.execute(
                "UPDATE alerts SET state = 'dismissed', resolution = ?2
                 WHERE id = ?1 AND state <> 'dismissed'",
                params![id, resolution],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub(crate) async fn set_alert_ledger_index(
        &self,
        id: u64,
        index: u64,
    ) -> Result<(), StoreError> {
        let id = to_i64("alert id", id)?;
        let index = to_i64("ledger index", index)?;
        self.write(move |c| {
            c.execute(
                "UPDATE alerts SET ledger_index = ?2 WHERE id = ?1",
                params![id, index],
            )?;
            Ok(())
        })
        .await
    }
}
