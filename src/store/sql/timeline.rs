//! The timeline's marked messages.

use super::{
    Arg, Backend, Conn, Read, conn, corrupt, id_column, incident_columns, incident_from_row,
    with_roles,
};
use crate::domain::ids::{MessageTs, UserId};
use crate::store::{
    EventId, History, HistoryEntry, Incident, IncidentId, Mark, StoreError, TimelineMarks,
};

#[async_trait::async_trait]
impl<B: Backend> TimelineMarks for B {
    async fn add_mark(&self, id: IncidentId, mark: &Mark) -> Result<bool, StoreError> {
        let added = conn(self)
            .await?
            .execute(
                "INSERT INTO timeline_marks \
                 (incident_id, message_ts, author, text, permalink, marked_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (incident_id, message_ts) DO NOTHING",
                &[
                    Arg::Int(id.0),
                    Arg::Text(mark.ts.as_str()),
                    Arg::MaybeText(mark.author.as_ref().map(UserId::as_str)),
                    Arg::Text(&mark.text),
                    Arg::MaybeText(mark.permalink.as_deref()),
                    Arg::Text(mark.marked_by.as_str()),
                ],
            )
            .await?;
        Ok(added == 1)
    }

    async fn remove_mark(&self, id: IncidentId, ts: &MessageTs) -> Result<bool, StoreError> {
        let removed = conn(self)
            .await?
            .execute(
                "DELETE FROM timeline_marks WHERE incident_id = $1 AND message_ts = $2",
                &[Arg::Int(id.0), Arg::Text(ts.as_str())],
            )
            .await?;
        Ok(removed == 1)
    }

    async fn marks(&self, id: IncidentId) -> Result<Vec<Mark>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT message_ts, author, text, permalink, marked_by FROM timeline_marks \
                 WHERE incident_id = $1",
                &[Arg::Int(id.0)],
            )
            .await?;
        let mut marks = rows
            .iter()
            .map(|row| {
                Ok(Mark {
                    ts: MessageTs::parse(&row.text("message_ts")?).map_err(corrupt)?,
                    author: id_column(row, "author", UserId::parse)?,
                    text: row.text("text")?,
                    permalink: row.maybe_text("permalink")?,
                    marked_by: UserId::parse(&row.text("marked_by")?).map_err(corrupt)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Slack's ts orders by time as numbers, not as text of any width.
        marks.sort_by(|a, b| {
            let key = |ts: &MessageTs| ts.as_str().parse::<f64>().unwrap_or(0.0);
            key(&a.ts).total_cmp(&key(&b.ts))
        });
        Ok(marks)
    }

    async fn timeline_seen(&self, id: IncidentId) -> Result<Option<MessageTs>, StoreError> {
        let row = conn(self)
            .await?
            .fetch_optional(
                "SELECT timeline_seen_ts FROM incidents WHERE id = $1",
                &[Arg::Int(id.0)],
            )
            .await?;
        match row {
            Some(row) => id_column(&row, "timeline_seen_ts", MessageTs::parse),
            None => Ok(None),
        }
    }

    async fn set_timeline_seen(&self, id: IncidentId, ts: &MessageTs) -> Result<(), StoreError> {
        // Slack's ts have a fixed width (10 digits, a dot, 6 digits), so
        // text order is time order.
        conn(self)
            .await?
            .execute(
                "UPDATE incidents SET timeline_seen_ts = $2 WHERE id = $1 \
                 AND (timeline_seen_ts IS NULL OR timeline_seen_ts < $2)",
                &[Arg::Int(id.0), Arg::Text(ts.as_str())],
            )
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<B: Backend> History for B {
    async fn find_incident(&self, key: &str) -> Result<Option<Incident>, StoreError> {
        let key = key.trim().trim_start_matches('#');
        let mut conn = conn(self).await?;
        let row = match key.parse::<i64>() {
            Ok(id) => {
                conn.fetch_optional(
                    concat!(
                        "SELECT ",
                        incident_columns!(),
                        " FROM incidents WHERE id = $1"
                    ),
                    &[Arg::Int(id)],
                )
                .await?
            }
            Err(_) => {
                conn.fetch_optional(
                    concat!(
                        "SELECT ",
                        incident_columns!(),
                        " FROM incidents WHERE channel_id = $1 OR channel_name = $1"
                    ),
                    &[Arg::Text(key)],
                )
                .await?
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let incident = incident_from_row(&row)?;
        let id = incident.id.0;
        let mut found = with_roles(
            &mut *conn,
            vec![incident],
            "SELECT incident_id, role, user_id FROM role_assignments WHERE incident_id = $1 \
             ORDER BY assigned_at",
            &[Arg::Int(id)],
        )
        .await?;
        Ok(found.pop())
    }

    async fn history(&self, id: IncidentId) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT id, actor, kind, detail, at FROM incident_events \
                 WHERE incident_id = $1 ORDER BY at, id",
                &[Arg::Int(id.0)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    id: EventId(row.int("id")?),
                    actor: row.text("actor")?,
                    kind: row.text("kind")?,
                    detail: row.json("detail")?,
                    at: row.time("at")?,
                })
            })
            .collect()
    }
}
