//! The outbox: work for background jobs (surveys, sends), written in the same transaction as the
//! change that causes it so that it is never lost nor sent for a change that rolled back.

use atiende_domain::chat::{MediaRef, Provider};
use atiende_domain::ids::IncidentId;
use atiende_domain::ids::{ContactId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::{Store, from_ms, ms};
use crate::error::{Result, StoreError};

/// Background work, one variant per kind, each with the payload its job reads. Written in
/// the outbox as `kind` and `payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Job {
    /// An incident closed: its satisfaction survey is due (procedure step 13).
    SurveyDue(SurveyDue),
    /// A message to send over SMTP.
    EmailSend(OutgoingEmail),
    /// A WhatsApp, Messenger or Instagram reply to deliver.
    ChatSend(ChatSend),
    /// Media of an inbound chat message to download and keep.
    ChatMedia(MediaJob),
    /// The name of a person Messenger or Instagram introduced only by an id.
    ChatProfile(ProfileJob),
    /// One signed event to POST to a subscribed endpoint.
    WebhookSend(WebhookJob),
    /// A portal sign-in code to send to a WhatsApp number on record.
    PortalCode(PortalCodeJob),
}

/// Which sign-in's code to send, from which of our WhatsApp numbers to which person's. The
/// code itself is made when the message leaves (`Store::issue_portal_code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalCodeJob {
    pub sign_in_id: i64,
    pub account_id: String,
    pub to: String,
}

/// Which delivery of the webhook log to send (its event, endpoint and attempts are there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookJob {
    pub delivery_id: i64,
}

/// The kinds of [`Job`], as the outbox's `kind` column names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    SurveyDue,
    EmailSend,
    ChatSend,
    ChatMedia,
    ChatProfile,
    WebhookSend,
    PortalCode,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::SurveyDue,
        JobKind::EmailSend,
        JobKind::ChatSend,
        JobKind::ChatMedia,
        JobKind::ChatProfile,
        JobKind::WebhookSend,
        JobKind::PortalCode,
    ];

    pub fn code(self) -> &'static str {
        match self {
            JobKind::SurveyDue => "survey_due",
            JobKind::EmailSend => "email_send",
            JobKind::ChatSend => "chat_send",
            JobKind::ChatMedia => "chat_media",
            JobKind::ChatProfile => "chat_profile",
            JobKind::WebhookSend => "webhook_send",
            JobKind::PortalCode => "portal_code",
        }
    }
}

impl Job {
    pub fn kind(&self) -> JobKind {
        match self {
            Job::SurveyDue(_) => JobKind::SurveyDue,
            Job::EmailSend(_) => JobKind::EmailSend,
            Job::ChatSend(_) => JobKind::ChatSend,
            Job::ChatMedia(_) => JobKind::ChatMedia,
            Job::ChatProfile(_) => JobKind::ChatProfile,
            Job::WebhookSend(_) => JobKind::WebhookSend,
            Job::PortalCode(_) => JobKind::PortalCode,
        }
    }
}

/// What a closing leaves for the survey job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyDue {
    pub folio: String,
    pub contact_id: ContactId,
    pub closed_at: DateTime<Utc>,
    pub closed_by: Option<UserId>,
}

/// Which of the outbox's work to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    pub incident: Option<IncidentId>,
    /// `email_send`, `survey_due`, `chat_send`…
    pub kind: Option<String>,
    /// `pending`, `sending`, `done`, `failed`.
    pub status: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A message waiting in the outbox to be sent over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutgoingEmail {
    pub mailbox_id: i64,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Set for messages about an incident (folio in the subject, link for units).
    pub folio: Option<String>,
    /// The message is atiende's own automatic answer (marked `Auto-Submitted: auto-replied`).
    pub automatic: bool,
    /// Add a link to the incident in the console (messages to units).
    #[serde(default)]
    pub link_to_incident: bool,
    /// The one-time link whose token fills the text's slot when the message leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_link: Option<crate::links::OneTimeLink>,
    /// Files staff attached to the answer, read from the store when the message is built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<atiende_domain::attachment::OutgoingFile>,
}

/// A reply to deliver through the provider's send API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    pub chat_message_id: i64,
    /// The one-time link whose token fills the message's slot when it leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_link: Option<crate::links::OneTimeLink>,
}

/// A contact to name from the provider's profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileJob {
    pub contact_id: i64,
    pub provider: Provider,
    pub account_id: String,
    pub peer_id: String,
}

/// Media waiting to be downloaded for an inbound message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaJob {
    pub chat_message_id: i64,
    pub provider: Provider,
    pub account_id: String,
    pub source: MediaRef,
    pub kind: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

impl MediaJob {
    /// A name for the stored file when the person's app gave none.
    pub fn file_name(&self, content_type: &str) -> String {
        if let Some(name) = self.filename.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.chars().filter(|c| !c.is_control()).take(200).collect();
        }
        let ext = content_type
            .split(';')
            .next()
            .and_then(|t| t.rsplit('/').next())
            .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()) && e.len() <= 5)
            .unwrap_or("bin");
        format!("{}-{}.{ext}", self.kind, self.chat_message_id)
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub incident_id: Option<IncidentId>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub run_after: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Queues a job in the caller's transaction: it runs only if the transaction commits.
pub async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    incident: Option<IncidentId>,
    job: &Job,
) -> Result<i64> {
    let now = ms(crate::db::now());
    let mut tagged = serde_json::to_value(job).map_err(StoreError::corrupt)?;
    let payload = tagged["payload"].take();
    let id = sqlx::query(
        "INSERT INTO outbox (kind, incident_id, payload, status, attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) RETURNING id",
    )
    .bind(job.kind().code())
    .bind(incident.map(|i| i.0))
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    Ok(id)
}

impl OutboxItem {
    /// The job this item holds, its payload read as its kind's type.
    pub fn job(&self) -> Result<Job> {
        let tagged = serde_json::json!({ "kind": self.kind, "payload": self.payload });
        serde_json::from_value(tagged).map_err(StoreError::corrupt)
    }
}

impl Store {
    /// Outbox entries, newest first, optionally of one incident.
    pub async fn outbox(
        &self,
        incident: Option<IncidentId>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        self.outbox_page(&OutboxQuery {
            incident,
            limit,
            ..Default::default()
        })
        .await
    }

    /// The outbox newest first, filtered, one page at a time (`before_id` continues a page).
    pub async fn outbox_page(&self, q: &OutboxQuery) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE ($1 = 0 OR incident_id = $1) AND ($2 = '' OR kind = $2) \
             AND ($3 = '' OR status = $3) AND ($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(q.incident.map_or(0, |i| i.0))
        .bind(q.kind.clone().unwrap_or_default())
        .bind(q.status.clone().unwrap_or_default())
        .bind(q.before_id.unwrap_or(0))
        .bind(q.limit.clamp(1, 500))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
                    payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)
                        .unwrap_or_default(),
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    run_after: from_ms(r.try_get("run_after")?)?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                })
            })
            .collect()
    }
}

/// Figures for `/metrics`.
pub struct Counts {
    pub incidents_by_status: Vec<(String, i64)>,
    pub outbox_pending: i64,
}

impl Store {
    pub async fn counts(&self) -> Result<Counts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM incidents GROUP BY status ORDER BY status",
        )
        .fetch_all(self.reader())
        .await?;
        let incidents_by_status = rows
            .iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>>>()?;
        let outbox_pending =
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
                .fetch_one(self.reader())
                .await?
                .try_get("n")?;
        Ok(Counts {
            incidents_by_status,
            outbox_pending,
        })
    }
}

/// After this many attempts a message is marked failed and waits for a person.
pub const MAX_ATTEMPTS: i64 = 8;

/// Claims due work of one kind. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances
/// claim at once without taking the same row; on SQLite the single writer does the same. A
/// claim that is not completed before `lease_secs` (a crashed worker) becomes claimable again.
const CLAIM_POSTGRES: &str = "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $3 AND ((status = 'pending' AND run_after <= $2) \
     OR (status = 'sending' AND locked_until < $2)) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *";
const CLAIM_SQLITE: &str = "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $3 AND ((status = 'pending' AND run_after <= $2) \
     OR (status = 'sending' AND locked_until < $2)) ORDER BY id LIMIT $4) RETURNING *";

fn item_from_row(r: &sqlx::any::AnyRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default(),
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        run_after: from_ms(r.try_get("run_after")?)?,
        created_at: from_ms(r.try_get("created_at")?)?,
    })
}

impl Store {
    pub async fn claim_outbox(
        &self,
        kind: JobKind,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<OutboxItem>> {
        let sql = match self.engine() {
            crate::Engine::Postgres => CLAIM_POSTGRES,
            crate::Engine::Sqlite => CLAIM_SQLITE,
        };
        let now = ms(crate::db::now());
        let rows = sqlx::query(sql)
            .bind(now + lease_secs * 1000)
            .bind(now)
            .bind(kind.code())
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn complete_outbox(&self, item: &OutboxItem) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 WHERE id = $2 AND attempts = $3")
            .bind(ms(crate::db::now()))
            .bind(item.id)
            .bind(item.attempts)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Marks claimed work failed for good (the other side refused it): it waits for a person.
    pub(crate) async fn fail_outbox(&self, item: &OutboxItem, error: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $1, updated_at = $2 WHERE id = $3 AND attempts = $4")
            .bind(error.chars().take(1000).collect::<String>())
            .bind(ms(crate::db::now()))
            .bind(item.id)
            .bind(item.attempts)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Puts claimed work back until `until` without counting the attempt (work that is not due
    /// yet, such as a survey waiting for its delay after closing).
    pub(crate) async fn defer_outbox(
        &self,
        item: &OutboxItem,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'pending', run_after = $1, locked_until = NULL, attempts = attempts - 1, updated_at = $2 WHERE id = $3 AND attempts = $4")
            .bind(ms(until))
            .bind(ms(crate::db::now()))
            .bind(item.id)
            .bind(item.attempts)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Puts claimed work back with a growing delay (30 s, 1 min, 2 min … up to an hour), or
    /// later when the other side asked for more (`not_before`, its `Retry-After`), or marks it
    /// failed after [`MAX_ATTEMPTS`].
    pub(crate) async fn retry_outbox(
        &self,
        item: &OutboxItem,
        error: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let delay_secs = (30i64 << (item.attempts - 1).clamp(0, 7)).min(3600);
        let status = if item.attempts >= MAX_ATTEMPTS {
            "failed"
        } else {
            "pending"
        };
        let now = ms(crate::db::now());
        let run_after = (now + delay_secs * 1000).max(not_before.map_or(0, ms));
        sqlx::query("UPDATE outbox SET status = $1, run_after = $2, locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $5 AND attempts = $6")
            .bind(status)
            .bind(run_after)
            .bind(error.chars().take(1000).collect::<String>())
            .bind(now)
            .bind(item.id)
            .bind(item.attempts)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

/// How a claimed job ended, for [`Store::finish_outbox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Failed for now: tried again later, with a growing delay, until [`MAX_ATTEMPTS`].
    Retry(String),
    /// Failed for now, and the other side said when to come back (a 429's or 503's
    /// `Retry-After`): tried again then, or after the growing delay if that is later.
    RetryAfter(String, chrono::DateTime<chrono::Utc>),
    /// Refused for good (the other side said no): it waits for a person.
    Fail(String),
    /// Not due yet: back in the queue until then, without counting the attempt.
    Later(chrono::DateTime<chrono::Utc>),
}

impl Store {
    /// Extends this claim's lease by `lease_secs` from now, if it is still this claim's (the
    /// attempt it counted is the job's last): false when the lease ran out and another worker
    /// claimed the job.
    pub(crate) async fn renew_claim(&self, item: &OutboxItem, lease_secs: i64) -> Result<bool> {
        let now = ms(crate::db::now());
        let renewed = sqlx::query(
            "UPDATE outbox SET locked_until = $1 WHERE id = $2 AND attempts = $3 AND status = 'sending'",
        )
        .bind(now + lease_secs * 1000)
        .bind(item.id)
        .bind(item.attempts)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Records how a claimed job ended: every kind ends through here. A claim another worker
    /// has taken since (the lease ran out) records nothing: the job is theirs.
    pub async fn finish_outbox(&self, item: &OutboxItem, outcome: Outcome) -> Result<()> {
        match outcome {
            Outcome::Done => self.complete_outbox(item).await,
            Outcome::Retry(error) => {
                tracing::warn!(outbox.id = item.id, outbox.kind = %item.kind, attempts = item.attempts, %error, "job failed; will retry");
                self.retry_outbox(item, &error, None).await
            }
            Outcome::RetryAfter(error, not_before) => {
                tracing::warn!(outbox.id = item.id, outbox.kind = %item.kind, attempts = item.attempts, %error, %not_before, "job failed; will retry when asked");
                self.retry_outbox(item, &error, Some(not_before)).await
            }
            Outcome::Fail(error) => {
                tracing::warn!(outbox.id = item.id, outbox.kind = %item.kind, %error, "job refused");
                self.fail_outbox(item, &error).await
            }
            Outcome::Later(until) => self.defer_outbox(item, until).await,
        }
    }

    /// Claims up to `limit` due jobs of `kind` (for `lease_secs`), runs each with `run`, and
    /// records how each ended; returns how many were done. Every kind runs through here: a
    /// payload that does not read as its kind fails for good without reaching `run`.
    pub async fn run_jobs<F, Fut>(
        &self,
        kind: JobKind,
        limit: i64,
        lease_secs: i64,
        mut run: F,
    ) -> usize
    where
        F: FnMut(Claim, Job) -> Fut,
        Fut: std::future::Future<Output = Outcome>,
    {
        let items = match self.claim_outbox(kind, limit, lease_secs).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, outbox.kind = kind.code(), "worker: cannot claim jobs");
                return 0;
            }
        };
        let mut done = 0;
        for (n, item) in items.into_iter().enumerate() {
            // The batch runs one job after another, and a slow provider can make it outlast
            // the lease: before each job the claim is renewed, and a job another worker has
            // claimed meanwhile (its lease ran out) is left to it — sent once, not twice.
            if n > 0 {
                match self.renew_claim(&item, lease_secs).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(outbox.id = item.id, "worker: another worker took this job");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot renew a claim");
                        continue;
                    }
                }
            }
            let claim = Claim {
                incident: item.incident_id,
                attempts: item.attempts,
            };
            let outcome = match item.job() {
                Ok(job) if job.kind() == kind => run(claim, job).await,
                Ok(other) => {
                    Outcome::Fail(format!("not a {} job: {:?}", kind.code(), other.kind()))
                }
                Err(e) => Outcome::Fail(format!("payload: {e}")),
            };
            if outcome == Outcome::Done {
                done += 1;
            }
            if let Err(e) = self.finish_outbox(&item, outcome).await {
                tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
            }
        }
        done
    }
}

/// What a job's code knows of its claim besides the job itself.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub incident: Option<IncidentId>,
    /// This attempt's number, from 1.
    pub attempts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_written_under_its_kinds_code_and_read_back_as_itself() {
        let jobs = [
            Job::ChatSend(ChatSend {
                chat_message_id: 7,
                one_time_link: None,
            }),
            Job::ChatProfile(ProfileJob {
                contact_id: 3,
                provider: Provider::Messenger,
                account_id: "PAGE1".into(),
                peer_id: "PSID1".into(),
            }),
            Job::SurveyDue(SurveyDue {
                folio: "CAP-2026-000001".into(),
                contact_id: ContactId(3),
                closed_at: chrono::DateTime::UNIX_EPOCH,
                closed_by: None,
            }),
            Job::WebhookSend(WebhookJob { delivery_id: 11 }),
            Job::PortalCode(PortalCodeJob {
                sign_in_id: 5,
                account_id: "106540352242922".into(),
                to: "5213312345678".into(),
            }),
        ];
        for job in jobs {
            let tagged = serde_json::to_value(&job).expect("json");
            assert_eq!(tagged["kind"], job.kind().code());
            let item = OutboxItem {
                id: 1,
                kind: job.kind().code().into(),
                incident_id: None,
                payload: tagged["payload"].clone(),
                status: "pending".into(),
                attempts: 0,
                run_after: chrono::DateTime::UNIX_EPOCH,
                created_at: chrono::DateTime::UNIX_EPOCH,
            };
            assert_eq!(item.job().expect("read back"), job);
        }
        assert_eq!(JobKind::ALL.len(), 7, "every kind is listed");
    }
}
