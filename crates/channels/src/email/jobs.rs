//! The email channel's background work: reading every mailbox this instance can lease, and
//! sending queued mail. The worker (`atiende-jobs`) calls these in its rounds.

use atiende_domain::external_service::ExternalService;
use atiende_domain::mail_auth::GrantState;
use atiende_store::Store;
use atiende_store::outbox::{Job, JobKind, Outcome, OutgoingEmail};

use super::{imap, smtp};

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
    // A mailbox that signs in by token and is not connected (or whose grant was revoked)
    // waits for an administrator: its page says so.
    for mailbox in mailboxes.into_iter().filter(|m| {
        m.active
            && !m.imap_host.is_empty()
            && matches!(m.grant, GrantState::NotUsed | GrantState::Connected)
    }) {
        let lease = format!("mailbox:{}", mailbox.id);
        let now = chrono::Utc::now();
        let until = now + chrono::Duration::minutes(5);
        match store.take_lease(&lease, owner, now, until).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, mailbox.name = %mailbox.name, "worker: lease failed");
                continue;
            }
        }
        let polled = imap::poll(store, &mailbox).await;
        // Our own database failing is not the mail server's fault.
        if !matches!(polled, Err(imap::PollError::Store(_))) {
            let failure = polled.as_ref().err().map(ToString::to_string);
            let service = ExternalService::mailbox_read(mailbox.id, &mailbox.address);
            store.record_service(&service, failure.as_deref()).await;
        }
        match polled {
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
        let _ = store.release_lease(&lease, owner).await;
    }
    read
}

/// Sends queued messages that are due. Returns how many were sent.
pub async fn send_due(store: &Store, base_url: &str) -> usize {
    store
        .run_jobs(JobKind::EmailSend, 20, 120, |_, job| async move {
            match job {
                Job::EmailSend(out) => send_one(store, out, base_url).await,
                other => Outcome::Fail(format!("not an email: {:?}", other.kind())),
            }
        })
        .await
}

/// Sends one queued email, its one-time link (if any) made now.
async fn send_one(store: &Store, out: OutgoingEmail, base_url: &str) -> Outcome {
    let mailbox = match store.mailbox(out.mailbox_id).await {
        Ok(m) => m,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let link = out.one_time_link;
    let out = match store.with_one_time_link(link, out).await {
        Ok(Some(out)) => out,
        Ok(None) => return Outcome::Fail("one-time link expired or used".into()),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let sent = smtp::send(store, &mailbox, &out, base_url).await;
    // A message refused for good (a recipient that does not exist) says nothing of the server.
    if !matches!(&sent, Err(e) if e.is_permanent()) {
        let failure = sent.as_ref().err().map(ToString::to_string);
        let service = ExternalService::mailbox_send(mailbox.id, &mailbox.address);
        store.record_service(&service, failure.as_deref()).await;
    }
    match sent {
        Ok(()) => Outcome::Done,
        Err(e) if e.is_permanent() => Outcome::Fail(e.to_string()),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}
