//! The background worker: polls mailboxes, sends queued mail and chat replies, downloads chat
//! media. Every job is claimed in the database (a lease per mailbox, `FOR UPDATE SKIP LOCKED`
//! on the outbox), so any number of instances can run it against one PostgreSQL and each job
//! still runs once.

use std::time::Duration;

use atiende_domain::nonconformity::Criteria;
use atiende_domain::survey::SurveyPolicy;
use atiende_store::Store;
use atiende_store::chat::{self, MediaJob};
use atiende_store::email::{OutgoingEmail, kind};
use atiende_store::outbox::{MAX_ATTEMPTS, OutboxItem, kind as outbox_kind};
use atiende_store::settings;
use atiende_store::surveys::SurveyStep;

use crate::email::{imap, smtp};
use crate::meta::MetaConfig;
use crate::meta::graph::{Graph, GraphError};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Public URL of the console, for links in messages to units.
    pub base_url: String,
    pub interval: Duration,
    /// Names this instance in mailbox leases.
    pub owner: String,
    pub meta: MetaConfig,
}

/// Polls every active mailbox this instance can lease. Returns how many messages were read.
pub async fn poll_mailboxes(store: &Store, owner: &str) -> usize {
    let mailboxes = match store.mailboxes().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot list mailboxes");
            return 0;
        }
    };
    let mut read = 0;
    for mailbox in mailboxes
        .into_iter()
        .filter(|m| m.active && !m.imap_host.is_empty())
    {
        match store.lease_mailbox(mailbox.id, owner, 300).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, mailbox.name = %mailbox.name, "worker: lease failed");
                continue;
            }
        }
        match imap::poll(store, &mailbox).await {
            Ok(report) => {
                read += report.fetched;
                if report.fetched > 0 {
                    tracing::info!(mailbox.name = %mailbox.name, ?report, "mailbox polled");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, mailbox.name = %mailbox.name, "mailbox poll failed");
                let _ = store.set_mailbox_error(mailbox.id, &e.to_string()).await;
            }
        }
        let _ = store.release_mailbox(mailbox.id, owner).await;
    }
    read
}

/// Sends queued messages that are due. Returns how many were sent.
pub async fn send_due(store: &Store, base_url: &str) -> usize {
    let items = match store.claim_outbox(kind::EMAIL_SEND, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim the outbox");
            return 0;
        }
    };
    let mut sent = 0;
    for item in items {
        let result = match serde_json::from_value::<OutgoingEmail>(item.payload.clone()) {
            Err(e) => Err(format!("payload: {e}")),
            Ok(out) => send_email(store, out, base_url).await,
        };
        let done = match result {
            Ok(Sent::Yes) => {
                sent += 1;
                store.complete_outbox(item.id).await
            }
            Ok(Sent::LinkLeadsNowhere) => {
                tracing::info!(
                    outbox.id = item.id,
                    "not sent: its one-time link expired or was used"
                );
                store
                    .fail_outbox(item.id, "one-time link expired or used")
                    .await
            }
            Err(error) => {
                tracing::warn!(outbox.id = item.id, attempts = item.attempts, %error, "send failed; will retry");
                store.retry_outbox(&item, &error).await
            }
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
        }
    }
    sent
}

enum Sent {
    Yes,
    /// The message carries a one-time link that expired or was used before it left.
    LinkLeadsNowhere,
}

/// Sends one queued email, its one-time link (if any) made now.
async fn send_email(store: &Store, out: OutgoingEmail, base_url: &str) -> Result<Sent, String> {
    let mailbox = store
        .mailbox(out.mailbox_id)
        .await
        .map_err(|e| e.to_string())?;
    let link = out.one_time_link;
    let Some(out) = store
        .with_one_time_link(link, out)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(Sent::LinkLeadsNowhere);
    };
    smtp::send(&mailbox, &out, base_url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Sent::Yes)
}

/// What a finished job did, for the outbox.
async fn settle(store: &Store, item: &OutboxItem, result: Result<(), GraphError>) -> bool {
    let done = match &result {
        Ok(()) => store.complete_outbox(item.id).await,
        Err(GraphError::Temporary(error)) => {
            tracing::warn!(outbox.id = item.id, attempts = item.attempts, %error, "chat job failed; will retry");
            store.retry_outbox(item, error).await
        }
        Err(GraphError::Refused(error)) => {
            tracing::warn!(outbox.id = item.id, %error, "chat job refused by the provider");
            store.fail_outbox(item.id, error).await
        }
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
    }
    result.is_ok()
}

/// Sends queued WhatsApp, Messenger and Instagram replies. Returns how many were sent.
pub async fn send_chats(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    let items = match store.claim_outbox(chat::kind::CHAT_SEND, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim chat sends");
            return 0;
        }
    };
    let mut sent = 0;
    for item in items {
        let Ok(job) = serde_json::from_value::<chat::ChatSend>(item.payload.clone()) else {
            settle(store, &item, Err(GraphError::Refused("payload".into()))).await;
            continue;
        };
        let id = job.chat_message_id;
        let result = send_chat(store, graph, meta, job).await;
        let failure = match &result {
            Err(GraphError::Refused(e)) => Some(e.clone()),
            Err(GraphError::Temporary(e)) if item.attempts >= MAX_ATTEMPTS => Some(e.clone()),
            _ => None,
        };
        if let Some(error) = failure
            && let Err(e) = store.record_chat_failed(id, &error).await
        {
            tracing::warn!(error = %e, "worker: cannot record a failed send");
        }
        if settle(store, &item, result).await {
            sent += 1;
        }
    }
    sent
}

async fn send_chat(
    store: &Store,
    graph: &Graph,
    meta: &MetaConfig,
    job: chat::ChatSend,
) -> Result<(), GraphError> {
    let id = job.chat_message_id;
    let msg = store
        .chat_message(id)
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))?;
    if msg.external_id.is_some() {
        // Sent before a crash kept the job from being marked done: never send twice.
        return Ok(());
    }
    let token = meta.token(msg.provider, &msg.account_id).ok_or_else(|| {
        GraphError::Refused(format!("account {} is not configured", msg.account_id))
    })?;
    let content = store
        .with_one_time_link(job.one_time_link, msg.content.clone())
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))?
        .ok_or_else(|| GraphError::Refused("one-time link expired or used".into()))?;
    let body = serde_json::from_value(content)
        .map_err(|e| GraphError::Refused(format!("stored body: {e}")))?;
    let external = graph
        .send(token, msg.provider, &msg.account_id, &msg.peer_id, &body)
        .await?;
    store
        .record_chat_sent(id, &external)
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))
}

/// Downloads media of inbound chat messages and keeps them with the incident.
pub async fn fetch_chat_media(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    let items = match store.claim_outbox(chat::kind::CHAT_MEDIA, 10, 300).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim media downloads");
            return 0;
        }
    };
    let mut fetched = 0;
    for item in items {
        let result = match serde_json::from_value::<MediaJob>(item.payload.clone()) {
            Err(e) => Err(GraphError::Refused(format!("payload: {e}"))),
            Ok(job) => {
                let token = meta
                    .token(job.provider, &job.account_id)
                    .unwrap_or_default();
                match graph.fetch_media(token, &job.source).await {
                    Ok((content_type, data)) => store
                        .save_chat_media(&job, &content_type, &data)
                        .await
                        .map_err(|e| GraphError::Temporary(e.to_string())),
                    Err(e) => Err(e),
                }
            }
        };
        if settle(store, &item, result).await {
            fetched += 1;
        }
    }
    fetched
}

/// Names the people Messenger and Instagram introduced only by an id.
pub async fn fetch_chat_profiles(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    let items = match store.claim_outbox(chat::kind::CHAT_PROFILE, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim profile jobs");
            return 0;
        }
    };
    let mut named = 0;
    for item in items {
        let result = match serde_json::from_value::<chat::ProfileJob>(item.payload.clone()) {
            Err(e) => Err(GraphError::Refused(format!("payload: {e}"))),
            Ok(job) => match meta.token(job.provider, &job.account_id) {
                None => Err(GraphError::Refused(format!(
                    "account {} is not configured",
                    job.account_id
                ))),
                Some(token) => match graph.profile_name(token, job.provider, &job.peer_id).await {
                    Ok(name) => store
                        .name_contact_from_profile(
                            atiende_domain::ids::ContactId(job.contact_id),
                            &name,
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| GraphError::Temporary(e.to_string())),
                    Err(e) => Err(e),
                },
            },
        };
        if settle(store, &item, result).await {
            named += 1;
        }
    }
    named
}

/// Turns closings into survey invitations once their delay has passed (procedure step 13).
/// Returns how many were handled.
pub async fn send_surveys(store: &Store, config: &WorkerConfig) -> usize {
    let items = match store.claim_outbox(outbox_kind::SURVEY_DUE, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim survey jobs");
            return 0;
        }
    };
    if items.is_empty() {
        return 0;
    }
    let policy: SurveyPolicy = match store.setting(settings::key::SURVEY_POLICY).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot read the survey policy");
            SurveyPolicy::default()
        }
    };
    let template = config.meta.template(&policy.whatsapp_template);
    let mut handled = 0;
    for item in items {
        let Some(incident) = item.incident_id else {
            let _ = store.complete_outbox(item.id).await;
            continue;
        };
        let done = match store
            .process_survey_due(incident, &policy, &config.base_url, template)
            .await
        {
            Ok(SurveyStep::NotYet(until)) => store.defer_outbox(&item, until).await,
            Ok(step) => {
                handled += 1;
                tracing::info!(incident.id = incident.0, ?step, "survey job");
                store.complete_outbox(item.id).await
            }
            Err(e) => {
                tracing::warn!(error = %e, incident.id = incident.0, "survey job failed; will retry");
                store.retry_outbox(&item, &e.to_string()).await
            }
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
        }
    }
    handled
}

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
pub async fn apply_retention(store: &Store) -> atiende_store::privacy::retention::RetentionReport {
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
    match store.claim_retention_run(now).await {
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
async fn fold_queue_tally(store: &Store) {
    if let Err(e) = store.fold_queue_tally().await {
        tracing::warn!(error = %e, "worker: cannot fold the queue counters");
    }
}

/// How often the register is checked against the criteria: they are about days, not seconds.
const DETECT_EVERY: Duration = Duration::from_secs(300);

/// Runs until `shutdown` resolves.
pub async fn run(
    store: Store,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let graph = Graph::new(&config.meta.graph_url);
    let mut last_detection: Option<std::time::Instant> = None;
    loop {
        if last_detection.is_none_or(|t| t.elapsed() >= DETECT_EVERY) {
            detect_nonconformities(&store).await;
            apply_retention(&store).await;
            fold_queue_tally(&store).await;
            last_detection = Some(std::time::Instant::now());
        }
        poll_mailboxes(&store, &config.owner).await;
        // Invitations first, so that they leave in this same round.
        while send_surveys(&store, &config).await > 0 {}
        while send_due(&store, &config.base_url).await > 0 {}
        while send_chats(&store, &graph, &config.meta).await > 0 {}
        while fetch_chat_media(&store, &graph, &config.meta).await > 0 {}
        while fetch_chat_profiles(&store, &graph, &config.meta).await > 0 {}
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(config.interval) => {}
        }
    }
}
