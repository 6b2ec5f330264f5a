//! The background worker: polls mailboxes and sends queued mail. Every job is claimed in the
//! database (a lease per mailbox, `FOR UPDATE SKIP LOCKED` on the outbox), so any number of
//! instances can run it against one PostgreSQL and each job still runs once.

use std::time::Duration;

use atiende_store::Store;
use atiende_store::email::{OutgoingEmail, kind};

use crate::email::{imap, smtp};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Public URL of the console, for links in messages to units.
    pub base_url: String,
    pub interval: Duration,
    /// Names this instance in mailbox leases.
    pub owner: String,
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
            Ok(out) => match store.mailbox(out.mailbox_id).await {
                Err(e) => Err(e.to_string()),
                Ok(mailbox) => smtp::send(&mailbox, &out, base_url)
                    .await
                    .map_err(|e| e.to_string()),
            },
        };
        let done = match result {
            Ok(()) => {
                sent += 1;
                store.complete_outbox(item.id).await
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

/// Runs until `shutdown` resolves.
pub async fn run(
    store: Store,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        poll_mailboxes(&store, &config.owner).await;
        while send_due(&store, &config.base_url).await > 0 {}
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(config.interval) => {}
        }
    }
}
