//! Work on a schedule rather than in the outbox: the register of nonconformities checked
//! against the criteria in force, articles due for review told to their owners, the retention
//! periods applied (one instance a day claims the run), PostgreSQL's queue counters folded,
//! service-level thresholds told, notifications' emails queued and the suggestions retrained.

use atiende_domain::nonconformity::Criteria;
use atiende_store::Store;
use atiende_store::settings;

/// Registers the nonconformities the criteria in force find. Returns how many were new.
pub async fn detect_nonconformities(store: &Store) -> usize {
    let criteria: Criteria = match store.setting(settings::key::NONCONFORMITY_CRITERIA).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot read the nonconformity criteria");
            return 0;
        }
    };
    match store.detect_nonconformities(&criteria).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(registered = n, "nonconformities detected");
            }
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "worker: nonconformity detection failed");
            0
        }
    }
}

/// Anonymises what has outlived the retention periods the institution set; one instance a
/// day claims the run, then works through the batches.
pub async fn apply_retention(
    store: &Store,
    owner: &str,
) -> atiende_store::privacy::retention::RetentionReport {
    let nothing = Default::default();
    let policy: atiende_domain::privacy::RetentionPolicy =
        match store.setting(settings::key::RETENTION_POLICY).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "worker: cannot read the retention policy");
                return nothing;
            }
        };
    if policy == Default::default() {
        return nothing;
    }
    let now = chrono::Utc::now();
    match store.claim_retention_run(owner, now).await {
        Ok(true) => {}
        Ok(false) => return nothing,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim the retention run");
            return nothing;
        }
    }
    store
        .apply_retention_all(&policy, now)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: retention failed");
            nothing
        })
}

/// Folds the queue counters of PostgreSQL server processes that have ended (see
/// `atiende_store::queue`); nothing to do on SQLite.
pub async fn fold_queue_tally(store: &Store) {
    if let Err(e) = store.fold_queue_tally().await {
        tracing::warn!(error = %e, "worker: cannot fold the queue counters");
    }
}

/// Tells the service-level thresholds reached since the last round: each warning and breach
/// once across instances (the store records them under a unique key). Returns how many.
pub async fn tell_service_levels(store: &Store) -> usize {
    match store.tell_service_levels(chrono::Utc::now(), 200).await {
        Ok(told) => {
            for t in &told {
                tracing::info!(
                    incident.id = t.incident_id.0,
                    measure = t.measure.code(),
                    threshold = t.threshold,
                    "service level"
                );
            }
            told.len()
        }
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot tell the service levels");
            0
        }
    }
}

/// Queues the notification emails due now: those to send at once, and the day's digests once
/// their hour has come. Returns how many messages.
pub async fn queue_notification_emails(store: &Store, base_url: &str) -> usize {
    store
        .queue_notification_emails(base_url, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: cannot queue the notification emails");
            0
        })
}

/// Tells the owners of articles whose review date passed, once per date.
pub async fn tell_articles_due_for_review(store: &Store) -> usize {
    let today = chrono::Utc::now()
        .with_timezone(&store.time_zone())
        .date_naive();
    store
        .tell_articles_due_for_review(today)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: cannot tell the articles due for review");
            0
        })
}

/// Tells the administrators of each outside service that has kept failing for `alert_after`
/// (once per run of failures; any instance, each run told once).
pub async fn tell_failing_services(store: &Store, alert_after: chrono::Duration) -> usize {
    store
        .tell_failing_services(alert_after)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: cannot tell of failing outside services");
            0
        })
}

/// Forgets old notifications (read ones after 90 days, any after a year) and the presence
/// marks of consoles closed without saying so.
pub async fn prune_notifications(store: &Store) {
    let now = chrono::Utc::now();
    if let Err(e) = store.prune_notifications(now).await {
        tracing::warn!(error = %e, "worker: cannot forget old notifications");
    }
    if let Err(e) = store.prune_presence(now).await {
        tracing::warn!(error = %e, "worker: cannot forget old presence marks");
    }
}

/// Retrains the suggestions' model from the CAP's history: one instance a day claims the run
/// (and the first round after a start without a model, or after a suppression dropped it).
pub async fn retrain_suggestions(store: &Store, owner: &str) -> bool {
    let now = chrono::Utc::now();
    let lease = atiende_store::suggestions::LEASE;
    match store
        .take_lease(lease, owner, now, now + chrono::Duration::days(1))
        .await
    {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim the suggestions' training");
            return false;
        }
    }
    match store.train_suggestions(now).await {
        Ok(Some(model)) => {
            tracing::info!(
                examples = model.examples,
                topic_top1 = model.accuracy.topic.top1_rate().unwrap_or_default(),
                "suggestions retrained"
            );
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot retrain the suggestions");
            false
        }
    }
}
