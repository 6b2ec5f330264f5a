//! Chat work that follows an inbound message: downloading its media through the Graph API,
//! and naming a person Messenger or Instagram introduced only by a page-scoped id.

use atiende_channels::chat::MetaConfig;
use atiende_channels::chat::graph::Graph;
use atiende_domain::ids::ContactId;
use atiende_store::Store;
use atiende_store::outbox::{Job, JobKind, MediaJob, Outcome, ProfileJob};

/// Downloads media of inbound chat messages and keeps them with the incident.
pub async fn fetch_chat_media(store: &Store, graph: &Graph, meta: &MetaConfig) -> usize {
    let items = match store.claim_outbox(JobKind::ChatMedia, 10, 300).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim media downloads");
            return 0;
        }
    };
    let mut fetched = 0;
    for item in items {
        let outcome = match item.job() {
            Ok(Job::ChatMedia(job)) => fetch_media(store, graph, meta, &job).await,
            Ok(other) => Outcome::Fail(format!("not media: {:?}", other.kind())),
            Err(e) => Outcome::Fail(format!("payload: {e}")),
        };
        if outcome == Outcome::Done {
            fetched += 1;
        }
        if let Err(e) = store.finish_outbox(&item, outcome).await {
            tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
        }
    }
    fetched
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
    let items = match store.claim_outbox(JobKind::ChatProfile, 20, 120).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "worker: cannot claim profile jobs");
            return 0;
        }
    };
    let mut named = 0;
    for item in items {
        let outcome = match item.job() {
            Ok(Job::ChatProfile(job)) => fetch_profile(store, graph, meta, &job).await,
            Ok(other) => Outcome::Fail(format!("not a profile: {:?}", other.kind())),
            Err(e) => Outcome::Fail(format!("payload: {e}")),
        };
        if outcome == Outcome::Done {
            named += 1;
        }
        if let Err(e) = store.finish_outbox(&item, outcome).await {
            tracing::warn!(error = %e, outbox.id = item.id, "worker: cannot record the result");
        }
    }
    named
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
