//! Notifications by email: those to send at once leave within a round of the worker, one
//! message per person and round; those kept for the digest leave once a day, after the
//! digest's hour in the institution's time zone. Each notification is claimed by the round
//! that queues its email, in the same transaction, so two instances never send it twice. The
//! words are written now, in the reader's language, with what the reader may still see.

use atiende_domain::classification::Lang;
use atiende_domain::ids::UserId;
use atiende_domain::notification::EmailDelivery;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::db::{Store, ms};
use crate::email::{default_mailbox, message_id_for, queue_email};
use crate::error::Result;
use crate::notifications::{Notification, notification_from_row};
use crate::outbox::OutgoingEmail;
use crate::tx::Tx;

/// The local hour after which the day's digest leaves.
pub const DIGEST_HOUR: u32 = 8;

/// How many notifications one round claims at most.
const ROUND: i64 = 500;

const SELECT: &str = "SELECT n.id, n.user_id, n.kind, n.incident_id, n.nonconformity_id, n.article_id, \
     n.created_at, n.read_at, i.folio, i.subject, a.title AS article_title, s.name AS service_name \
     FROM notifications n LEFT JOIN incidents i ON i.id = n.incident_id \
     LEFT JOIN articles a ON a.id = n.article_id \
     LEFT JOIN external_services s ON s.service = n.service";

impl Store {
    /// Queues the notification emails due at `now`: every notification to send at once, and
    /// the digests of those whose day's digest has not left yet. Returns how many messages.
    pub async fn queue_notification_emails(
        &self,
        base_url: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut sent = self.queue_immediate(base_url, now).await?;
        let local = now.with_timezone(&self.time_zone());
        if chrono::Timelike::hour(&local) >= DIGEST_HOUR {
            sent += self
                .queue_digests(base_url, now, local.date_naive())
                .await?;
        }
        Ok(sent)
    }

    async fn queue_immediate(&self, base_url: &str, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "{SELECT} WHERE n.email = 'immediate' AND n.emailed_at IS NULL ORDER BY n.id LIMIT {ROUND}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await?;
        let mut per_user: Vec<(UserId, Vec<Notification>)> = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            if !claim(&mut tx, id, now).await? {
                continue; // another instance's round has it
            }
            let user = UserId(r.try_get("user_id")?);
            let n = notification_from_row(r)?;
            match per_user.iter_mut().find(|(u, _)| *u == user) {
                Some((_, list)) => list.push(n),
                None => per_user.push((user, vec![n])),
            }
        }
        let mut sent = 0;
        for (user, items) in per_user {
            if self
                .queue_to(&mut tx, user, items, EmailDelivery::Immediate, base_url)
                .await?
            {
                sent += 1;
            }
        }
        tx.commit().await?;
        Ok(sent)
    }

    async fn queue_digests(
        &self,
        base_url: &str,
        now: DateTime<Utc>,
        day: chrono::NaiveDate,
    ) -> Result<usize> {
        // Those whose day's digest already left wait for tomorrow's without a write each round.
        let waiting: Vec<i64> = sqlx::query(
            "SELECT DISTINCT n.user_id FROM notifications n WHERE n.email = 'digest' AND n.emailed_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM notification_digests g WHERE g.user_id = n.user_id AND g.day = $1)",
        )
        .bind(day.to_string())
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<std::result::Result<_, _>>()?;
        let mut sent = 0;
        for user in waiting {
            let mut tx = self.begin().await?;
            // The day's digest is this person's once, whichever instance gets here first.
            let first = sqlx::query(
                "INSERT INTO notification_digests (user_id, day, sent_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, day) DO NOTHING",
            )
            .bind(user)
            .bind(day.to_string())
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !first {
                continue;
            }
            let sql = format!(
                "{SELECT} WHERE n.user_id = $1 AND n.email = 'digest' AND n.emailed_at IS NULL ORDER BY n.id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
            let mut items = Vec::with_capacity(rows.len());
            for r in &rows {
                if claim(&mut tx, r.try_get("id")?, now).await? {
                    items.push(notification_from_row(r)?);
                }
            }
            if self
                .queue_to(
                    &mut tx,
                    UserId(user),
                    items,
                    EmailDelivery::Digest,
                    base_url,
                )
                .await?
            {
                sent += 1;
            }
            tx.commit().await?;
        }
        Ok(sent)
    }

    /// Writes one person's message of these notifications, keeping only what they may still
    /// see; nothing when there is nothing left, no address or no mailbox to send from.
    async fn queue_to(
        &self,
        tx: &mut Tx,
        user: UserId,
        items: Vec<Notification>,
        delivery: EmailDelivery,
        base_url: &str,
    ) -> Result<bool> {
        let reader = self.user(user).await?;
        if reader.disabled || reader.email.trim().is_empty() {
            return Ok(false);
        }
        let visible = self.still_visible(&reader.incident_scope(), items).await?;
        if visible.is_empty() {
            return Ok(false);
        }
        let Some(mailbox) = default_mailbox(tx).await? else {
            return Ok(false);
        };
        let lang = reader.language;
        let base = base_url.trim_end_matches('/');
        let subject = match (delivery, visible.as_slice()) {
            (EmailDelivery::Digest, _) => match lang {
                Lang::Es => format!("Resumen de avisos ({})", visible.len()),
                Lang::En => format!("Notifications digest ({})", visible.len()),
            },
            (_, [one]) => format!("{}: {}", one.kind.label(lang), one.about(lang)),
            (_, many) => match lang {
                Lang::Es => format!("{} avisos nuevos", many.len()),
                Lang::En => format!("{} new notifications", many.len()),
            },
        };
        let mut text = match lang {
            Lang::Es => format!("Hola, {}:\n\n", reader.name),
            Lang::En => format!("Hello {},\n\n", reader.name),
        };
        for n in &visible {
            text.push_str(&format!(
                "- {}: {}\n  {base}{}\n",
                n.kind.label(lang),
                n.about(lang),
                n.link().unwrap_or_else(|| "/avisos".into())
            ));
        }
        text.push_str(match lang {
            Lang::Es => "\nElija qué avisos recibe y cómo en Preferencias.\n",
            Lang::En => "\nChoose which notifications you get, and how, under Preferences.\n",
        });
        let out = OutgoingEmail {
            mailbox_id: mailbox.id,
            to: reader.email.clone(),
            subject: atiende_domain::email::header_safe(&subject),
            text,
            message_id: message_id_for(&mailbox, "avisos"),
            in_reply_to: None,
            references: vec![],
            folio: None,
            automatic: true,
            link_to_incident: false,
            one_time_link: None,
            files: Vec::new(),
        };
        queue_email(tx, None, None, &out).await?;
        Ok(true)
    }
}

/// Takes a notification's email for this round; false when another round took it first.
async fn claim(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<bool> {
    Ok(
        sqlx::query(
            "UPDATE notifications SET emailed_at = $1 WHERE id = $2 AND emailed_at IS NULL",
        )
        .bind(ms(now))
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1,
    )
}
