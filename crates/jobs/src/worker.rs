//! The worker: rounds of every job kind until shutdown. It runs inside `atiende serve` or alone
//! (`atiende worker`); any number of instances may run it against one PostgreSQL.

use std::time::Duration;

use atiende_channels::chat::MetaConfig;
use atiende_channels::chat::graph::Graph;
use atiende_channels::chat::jobs::{send_chats, send_portal_codes};
use atiende_channels::email::jobs::{poll_mailboxes, send_due};
use atiende_store::Store;

use crate::chat::{fetch_chat_media, fetch_chat_profiles, release_held_chats};
use crate::periodic::{
    apply_retention, detect_nonconformities, fold_queue_tally, prune_notifications,
    queue_notification_emails, retrain_suggestions, tell_articles_due_for_review,
    tell_failing_services, tell_service_levels,
};
use crate::surveys::send_surveys;
use crate::webhooks::send_webhooks;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Public URL of the console, for links in messages to units and people.
    pub base_url: String,
    pub interval: Duration,
    /// Names this instance in leases (mailboxes, scheduled work).
    pub owner: String,
    pub meta: MetaConfig,
    /// Whether webhooks may call private and local addresses (tests, internal networks).
    pub webhooks_allow_private: bool,
    /// How long an outside service may keep failing before the administrators are told.
    pub external_service_alert_after: chrono::Duration,
}

/// How often the scheduled work runs: it is about days, not seconds.
const PERIODIC_EVERY: Duration = Duration::from_secs(300);

/// Runs until `shutdown` resolves.
pub async fn run(
    store: Store,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let graph = Graph::new(&config.meta.graph_url);
    let mut last_periodic: Option<std::time::Instant> = None;
    loop {
        if last_periodic.is_none_or(|t| t.elapsed() >= PERIODIC_EVERY) {
            // One instance in the cluster runs the checks each period; retention has its own
            // lease, for the day.
            if take_period(&store, &config.owner).await {
                detect_nonconformities(&store).await;
                tell_articles_due_for_review(&store).await;
                prune_notifications(&store).await;
                fold_queue_tally(&store).await;
            }
            apply_retention(&store, &config.owner).await;
            retrain_suggestions(&store, &config.owner).await;
            last_periodic = Some(std::time::Instant::now());
        }
        poll_mailboxes(&store, &config.owner).await;
        release_held_chats(&store, &config.meta).await;
        // Invitations and notifications first, so that their emails leave in this same round.
        while send_surveys(&store, &config).await > 0 {}
        while tell_service_levels(&store).await > 0 {}
        queue_notification_emails(&store, &config.base_url).await;
        while send_due(&store, &config.base_url).await > 0 {}
        while send_portal_codes(&store, &graph, &config.meta).await > 0 {}
        while send_chats(&store, &graph, &config.meta).await > 0 {}
        while fetch_chat_media(&store, &graph, &config.meta).await > 0 {}
        while fetch_chat_profiles(&store, &graph, &config.meta).await > 0 {}
        while send_webhooks(&store, config.webhooks_allow_private).await > 0 {}
        // After this round's sends, which found out whether each service works.
        tell_failing_services(&store, config.external_service_alert_after).await;
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// Takes the scheduled checks for this period, unless another instance has them.
async fn take_period(store: &Store, owner: &str) -> bool {
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::from_std(PERIODIC_EVERY).unwrap_or_default();
    store
        .take_lease("scheduled", owner, now, until)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker: cannot take the scheduled checks");
            false
        })
}
