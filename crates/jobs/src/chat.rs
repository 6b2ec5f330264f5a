//! Chat work that follows an inbound message: downloading its media through the Graph API,
//! naming a person Messenger or Instagram introduced only by a page-scoped id, and releasing
//! messages held for an account that was not configured when they arrived.

use atiende_channels::chat::MetaConfig;
use atiende_channels::chat::graph::Graph;
use atiende_domain::ids::ContactId;
use atiende_store::Store;
use atiende_store::outbox::{Job, JobKind, MediaJob, Outcome, ProfileJob};

/// Downloads media of inbound chat messages and keeps them with the incident.
pub async fn fetch_chat_media(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    store
        .run_jobs(JobKind::ChatMedia, 10, 300, |_, job| async move {
            match job {
                Job::ChatMedia(job) => fetch_media(store, graph, meta, &job).await,
                other => Outcome::Fail(format!("not media: {:?}", other.kind())),
            }
        })
        .await
}

async fn fetch_media(store: &Store, graph: &Graph, meta: &MetaConfig, job: &MediaJob) -> Outcome {
    let token = meta
        .token(job.provider, &job.account_id)
        .unwrap_or_default();
    match graph.fetch_media(token, &job.source).await {
        Ok((content_type, data)) => match store.save_chat_media(job, &content_type, &data).await {
            Ok(_) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        },
        Err(e) => e.into(),
    }
}

/// Names the people Messenger and Instagram introduced only by an id.
pub async fn fetch_chat_profiles(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    store
        .run_jobs(JobKind::ChatProfile, 20, 120, |_, job| async move {
            match job {
                Job::ChatProfile(job) => fetch_profile(store, graph, meta, &job).await,
                other => Outcome::Fail(format!("not a profile: {:?}", other.kind())),
            }
        })
        .await
}

async fn fetch_profile(
    store: &Store,
    graph: &Graph,
    meta: &MetaConfig,
    job: &ProfileJob,
) -> Outcome {
    let Some(token) = meta.token(job.provider, &job.account_id) else {
        return Outcome::Fail(format!("account {} is not configured", job.account_id));
    };
    match graph.profile_name(token, job.provider, &job.peer_id).await {
        Ok(name) => match store
            .name_contact_from_profile(ContactId(job.contact_id), &name)
            .await
        {
            Ok(_) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        },
        Err(e) => e.into(),
    }
}

/// Messages held for an account not configured when they arrived become incidents once it is
/// (the configuration is read at start-up, so after the restart that adds the account).
pub async fn release_held_chats(store: &Store, meta: &MetaConfig) -> usize {
    match store
        .release_held_chats(|provider, account| meta.token(provider, account).is_some())
        .await
    {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(messages = n, "held chat messages released to their account");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "worker: held chat messages not released");
            0
        }
    }
}
