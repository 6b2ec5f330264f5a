//! The chat channels' sending: queued WhatsApp, Messenger and Instagram replies go out through
//! the Graph API. The worker (`atiende-jobs`) calls this in its rounds.

use atiende_domain::chat::OutgoingBody;
use atiende_domain::external_service::ExternalService;
use atiende_store::Store;
use atiende_store::outbox::{ChatSend, Job, JobKind, MAX_ATTEMPTS, Outcome, PortalCodeJob};

use super::MetaConfig;
use super::graph::{Graph, GraphError};

impl From<GraphError> for Outcome {
    fn from(e: GraphError) -> Outcome {
        match e {
            GraphError::Temporary(e) => Outcome::Retry(e),
            GraphError::Throttled {
                message,
                retry_after,
            } => Outcome::RetryAfter(
                message,
                chrono::Utc::now() + chrono::Duration::from_std(retry_after).unwrap_or_default(),
            ),
            GraphError::Refused(e) | GraphError::Unauthorized(e) => Outcome::Fail(e),
        }
    }
}

/// Sends queued replies. Returns how many were sent.
pub async fn send_chats(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    store
        .run_jobs(JobKind::ChatSend, 20, 120, |claim, job| async move {
            let Job::ChatSend(job) = job else {
                return Outcome::Fail(format!("not a chat reply: {:?}", job.kind()));
            };
            let outcome = match send_chat(store, graph, meta, job).await {
                Ok(()) => Outcome::Done,
                Err(e) => e.into(),
            };
            // A refusal, or an outage that outlasted every attempt, shows on the reply.
            let failure = match &outcome {
                Outcome::Fail(e) => Some(e.clone()),
                Outcome::Retry(e) | Outcome::RetryAfter(e, _) if claim.attempts >= MAX_ATTEMPTS => {
                    Some(e.clone())
                }
                _ => None,
            };
            if let Some(error) = failure
                && let Err(e) = store.record_chat_failed(job.chat_message_id, &error).await
            {
                tracing::warn!(error = %e, "worker: cannot record a failed send");
            }
            outcome
        })
        .await
}

/// Sends the portal's sign-in codes by WhatsApp. Returns how many were sent.
pub async fn send_portal_codes(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    store
        .run_jobs(JobKind::PortalCode, 20, 60, |_, job| async move {
            let Job::PortalCode(job) = job else {
                return Outcome::Fail(format!("not a sign-in code: {:?}", job.kind()));
            };
            match send_portal_code(store, graph, meta, job).await {
                Ok(()) => Outcome::Done,
                Err(e) => e.into(),
            }
        })
        .await
}

/// A retried send makes a new code: the one before stops working. A code is never written
/// anywhere but in the message that carries it.
async fn send_portal_code(
    store: &Store,
    graph: &Graph,
    meta: &MetaConfig,
    job: PortalCodeJob,
) -> Result<(), GraphError> {
    let template = meta
        .sign_in_template()
        .ok_or_else(|| GraphError::Refused("no sign-in template is configured".into()))?;
    let token = meta
        .token(atiende_domain::chat::Provider::Whatsapp, &job.account_id)
        .ok_or_else(|| {
            GraphError::Refused(format!("account {} is not configured", job.account_id))
        })?;
    let Some(code) = store
        .issue_portal_code(job.sign_in_id)
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))?
    else {
        // Used or expired meanwhile: nothing worth sending.
        return Ok(());
    };
    graph
        .send_whatsapp_code(token, &job.account_id, &job.to, template, &code)
        .await
        .map(|_| ())
}

async fn send_chat(
    store: &Store,
    graph: &Graph,
    meta: &MetaConfig,
    job: ChatSend,
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
    let sent = match body {
        OutgoingBody::Media { file, human_agent } => {
            let data = store
                .outgoing_file_data(&file)
                .await
                .map_err(|e| GraphError::Temporary(e.to_string()))?;
            graph
                .send_media(
                    token,
                    msg.provider,
                    &msg.account_id,
                    &msg.peer_id,
                    &file,
                    human_agent,
                    data,
                )
                .await
        }
        body => {
            graph
                .send(token, msg.provider, &msg.account_id, &msg.peer_id, &body)
                .await
        }
    };
    let failure = match &sent {
        Ok(_) => None,
        Err(e) if e.is_outage() => Some(e.to_string()),
        // One message refused: the channel works.
        Err(_) => None,
    };
    let service = ExternalService::chat_send(msg.provider, &msg.account_id);
    store.record_service(&service, failure.as_deref()).await;
    let external = sent?;
    store
        .record_chat_sent(id, &external)
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))
}
