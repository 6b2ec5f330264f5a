//! Webhook subscriptions and their delivery log. An event is written in the transaction of
//! the change that causes it — one delivery per subscribed endpoint and its job in the outbox —
//! so that it is sent once it commits and never for a change that rolled back; the job queue's
//! claims make each attempt run on one instance only.

use atiende_domain::audit::EntityKind;
use atiende_domain::ids::IncidentId;
use atiende_domain::secret::Secret;
use atiende_domain::webhook::{DISABLE_AFTER_FAILURES, EventType, SubscriptionInput, new_secret};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, flag, from_ms, ms, now, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::outbox::{Job, WebhookJob, enqueue};
use crate::tx::Tx;

/// A subscribed endpoint, as administrators see it: never its secret.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    /// Off when an administrator turned it off, or after
    /// [`DISABLE_AFTER_FAILURES`] failed deliveries in a row (`disabled_at` says when).
    pub active: bool,
    pub consecutive_failures: i64,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new subscription with its signing secret, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedSubscription {
    pub subscription: Subscription,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it. Not shown again.
    pub secret: String,
}

/// One event sent (or being sent) to one endpoint.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    /// The `webhook-id` header, the same on every attempt and replay.
    pub message_id: String,
    pub event_type: EventType,
    /// The body sent.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed` (given up, or its endpoint turned off).
    pub status: String,
    pub attempts: i64,
    /// The endpoint's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What the sending job needs: the delivery, where and with which secret.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: Delivery,
    pub url: String,
    pub secret: Secret,
    pub active: bool,
}

pub(crate) fn events_of(stored: &str) -> Vec<EventType> {
    stored
        .split_whitespace()
        .filter_map(EventType::from_code)
        .collect()
}

fn subscription_from_row(r: &AnyRow) -> Result<Subscription> {
    Ok(Subscription {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        events: events_of(&r.try_get::<String, _>("events")?),
        description: r.try_get("description")?,
        active: flag(r, "active")?,
        consecutive_failures: r.try_get("consecutive_failures")?,
        disabled_at: opt_from_ms(r.try_get("disabled_at")?)?,
        created_at: from_ms(r.try_get("created_at")?)?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<Delivery> {
    let event: String = r.try_get("event_type")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        subscription_id: r.try_get("subscription_id")?,
        message_id: r.try_get("message_id")?,
        event_type: EventType::from_code(&event).ok_or_else(|| StoreError::corrupt(event))?,
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)
            .map_err(StoreError::corrupt)?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: from_ms(r.try_get("created_at")?)?,
        last_attempt_at: opt_from_ms(r.try_get("last_attempt_at")?)?,
        delivered_at: opt_from_ms(r.try_get("delivered_at")?)?,
    })
}

fn codes(events: &[EventType]) -> String {
    let mut codes: Vec<&str> = events.iter().map(|e| e.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    codes.join(" ")
}

/// Writes one delivery of an event to an endpoint, with its job, in the caller's transaction.
async fn deliver_in(
    tx: &mut sqlx::AnyConnection,
    subscription: i64,
    message_id: &str,
    event: EventType,
    payload: &str,
    incident: Option<IncidentId>,
) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO webhook_deliveries (subscription_id, message_id, event_type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(subscription)
    .bind(message_id.to_string())
    .bind(event.code())
    .bind(payload.to_string())
    .bind(ms(now()))
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    enqueue(
        tx,
        incident,
        &Job::WebhookSend(WebhookJob { delivery_id: id }),
    )
    .await?;
    Ok(id)
}

/// Records an event for every active subscription to its type, in the transaction of the
/// change. `data` says what happened without personal data (folios, codes, moments).
pub(crate) async fn emit(
    tx: &mut Tx,
    event: EventType,
    incident: Option<IncidentId>,
    data: serde_json::Value,
) -> Result<()> {
    emit_many(tx, event, vec![(incident, data)]).await
}

/// Records one event per item, reading the subscriptions once: the intake's groups write many
/// new incidents in one transaction, and with no subscriber they pay one small read.
pub(crate) async fn emit_many(
    tx: &mut sqlx::AnyConnection,
    event: EventType,
    items: Vec<(Option<IncidentId>, serde_json::Value)>,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let subscribed: Vec<i64> =
        sqlx::query("SELECT id, events FROM webhook_subscriptions WHERE active = 1")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .filter(|r| {
                r.try_get::<String, _>("events")
                    .is_ok_and(|e| events_of(&e).contains(&event))
            })
            .filter_map(|r| r.try_get("id").ok())
            .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    for (incident, data) in items {
        let at = now();
        let message_id = format!("msg_{}", hex_id());
        let payload = serde_json::json!({
            "type": event.code(),
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        for subscription in &subscribed {
            // One message id per event and endpoint: the receiver deduplicates by it.
            let id = format!("{message_id}_{subscription}");
            deliver_in(tx, *subscription, &id, event, &payload, incident).await?;
        }
    }
    Ok(())
}

fn hex_id() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Subscribes an endpoint; its secret is returned this once and kept sealed.
    pub async fn create_webhook(
        &self,
        actor: Actor<'_>,
        input: &SubscriptionInput,
        allow_private: bool,
    ) -> Result<CreatedSubscription> {
        input.check(allow_private)?;
        let secret = new_secret();
        let t = ms(now());
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO webhook_subscriptions (url, events, description, secret, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(input.url.trim().to_string())
        .bind(codes(&input.events))
        .bind(input.description.trim().to_string())
        .bind(self.sealer.seal(&secret))
        .bind(actor.user_id().map(|u| u.0))
        .bind(t)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let subscription = subscription_in(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("webhook:{id}"),
            action: "webhook.create",
            before: None,
            after: serde_json::to_value(&subscription).ok(),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(CreatedSubscription {
            subscription,
            secret,
        })
    }

    pub async fn webhooks(&self) -> Result<Vec<Subscription>> {
        let rows = sqlx::query("SELECT * FROM webhook_subscriptions ORDER BY id")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    pub async fn webhook(&self, id: i64) -> Result<Subscription> {
        subscription_in(&mut *self.reader().acquire().await?, id).await
    }

    /// Changes an endpoint; turning it on again clears its failures.
    pub async fn update_webhook(
        &self,
        actor: Actor<'_>,
        id: i64,
        input: &SubscriptionInput,
        active: bool,
        allow_private: bool,
    ) -> Result<Subscription> {
        input.check(allow_private)?;
        let mut tx = self.begin().await?;
        let before = subscription_in(&mut tx, id).await?;
        let t = ms(now());
        sqlx::query(
            "UPDATE webhook_subscriptions SET url = $1, events = $2, description = $3, active = $4, \
             consecutive_failures = CASE WHEN $4 = 1 THEN 0 ELSE consecutive_failures END, \
             disabled_at = CASE WHEN $4 = 1 THEN NULL ELSE COALESCE(disabled_at, $5) END, updated_at = $5 \
             WHERE id = $6",
        )
        .bind(input.url.trim().to_string())
        .bind(codes(&input.events))
        .bind(input.description.trim().to_string())
        .bind(i64::from(active))
        .bind(t)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let after = subscription_in(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("webhook:{id}"),
            action: "webhook.update",
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Removes a subscription and its delivery log; deliveries still queued find it gone.
    pub async fn delete_webhook(&self, actor: Actor<'_>, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let before = subscription_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("webhook:{id}"),
            action: "webhook.delete",
            before: serde_json::to_value(&before).ok(),
            after: None,
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        subscription: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE subscription_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(subscription)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, crate::MAX_PAGE + 1))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Sends a delivery again, as a new entry of the log with the same message id and body
    /// (the receiver sees the same `webhook-id`).
    pub async fn replay_webhook_delivery(
        &self,
        actor: Actor<'_>,
        subscription: i64,
        delivery: i64,
    ) -> Result<Delivery> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2")
                .bind(delivery)
                .bind(subscription)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("delivery"))?;
        let original = delivery_from_row(&row)?;
        let id = deliver_in(
            &mut tx,
            subscription,
            &original.message_id,
            original.event_type,
            &original.payload.to_string(),
            None,
        )
        .await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("webhook:{subscription}"),
            action: "webhook.replay",
            before: None,
            after: Some(serde_json::json!({ "delivery": delivery, "replay": id })),
        };
        record(&mut tx, actor, change).await?;
        let replay = sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let replay = delivery_from_row(&replay)?;
        tx.commit().await?;
        Ok(replay)
    }

    /// What the sending job needs for one delivery, the secret opened.
    pub async fn webhook_outgoing(&self, delivery: i64) -> Result<Outgoing> {
        let row = sqlx::query(
            "SELECT d.*, s.url, s.secret, s.active FROM webhook_deliveries d \
             JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = $1",
        )
        .bind(delivery)
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound("delivery"))?;
        Ok(Outgoing {
            delivery: delivery_from_row(&row)?,
            url: row.try_get("url")?,
            secret: Secret::new(self.sealer.open(&row.try_get::<String, _>("secret")?)?),
            active: flag(&row, "active")?,
        })
    }

    /// Records one attempt: `Ok(status)` when the endpoint answered (2xx delivers), `Err` when
    /// it could not be reached. `last` says the job gives up after this one. A failure counts
    /// against the endpoint; after [`DISABLE_AFTER_FAILURES`] in a row it is turned off.
    /// Returns whether this attempt turned it off.
    pub async fn record_webhook_attempt(
        &self,
        delivery: i64,
        answer: &std::result::Result<u16, String>,
        last: bool,
    ) -> Result<bool> {
        let delivered = matches!(answer, Ok(s) if (200..300).contains(s));
        let t = ms(now());
        let status = match (delivered, last) {
            (true, _) => "delivered",
            (false, true) => "failed",
            (false, false) => "pending",
        };
        let mut tx = self.begin().await?;
        let subscription: i64 = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, last_error = $3, \
             last_attempt_at = $4, delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END \
             WHERE id = $5 RETURNING subscription_id",
        )
        .bind(status)
        .bind(answer.as_ref().ok().map(|s| i64::from(*s)))
        .bind(answer.as_ref().err().map(|e| e.chars().take(500).collect::<String>()))
        .bind(t)
        .bind(delivery)
        .fetch_one(&mut *tx)
        .await?
        .try_get("subscription_id")?;
        let turned_off = if delivered {
            sqlx::query("UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = $1")
                .bind(subscription)
                .execute(&mut *tx)
                .await?;
            false
        } else {
            let failures: i64 = sqlx::query(
                "UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1 \
                 WHERE id = $1 RETURNING consecutive_failures",
            )
            .bind(subscription)
            .fetch_one(&mut *tx)
            .await?
            .try_get("consecutive_failures")?;
            let off = failures >= DISABLE_AFTER_FAILURES;
            if off {
                let n = sqlx::query(
                    "UPDATE webhook_subscriptions SET active = 0, disabled_at = $1 WHERE id = $2 AND active = 1",
                )
                .bind(t)
                .bind(subscription)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n > 0 {
                    let change = Change {
                        entity: EntityKind::Setting,
                        entity_id: format!("webhook:{subscription}"),
                        action: "webhook.disabled",
                        before: None,
                        after: Some(serde_json::json!({ "consecutive_failures": failures })),
                    };
                    record(&mut tx, Actor::System, change).await?;
                }
                n > 0
            } else {
                false
            }
        };
        tx.commit().await?;
        Ok(turned_off)
    }

    /// A delivery its endpoint will not get: turned off or removed meanwhile.
    pub async fn drop_webhook_delivery(&self, delivery: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = $1 WHERE id = $2",
        )
        .bind(reason.to_string())
        .bind(delivery)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}

async fn subscription_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Subscription> {
    let row = sqlx::query("SELECT * FROM webhook_subscriptions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("webhook"))?;
    subscription_from_row(&row)
}
