//! Sends the signed events (webhooks) the outbox holds: one POST per claimed delivery, signed
//! as Standard Webhooks says, never to the server's own network unless the configuration
//! allows it, retried by the job queue with a growing delay; an endpoint that keeps failing
//! is turned off (the store counts).

use std::net::ToSocketAddrs;
use std::time::Duration;

use atiende_domain::webhook::{forbidden_address, signature};
use atiende_store::Store;
use atiende_store::outbox::{Claim, Job, JobKind, MAX_ATTEMPTS, Outcome};
use atiende_store::webhooks::Outgoing;

/// How long an endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends due deliveries; returns how many were delivered.
pub async fn send_webhooks(store: &Store, allow_private: bool) -> usize {
    store
        .run_jobs(JobKind::WebhookSend, 20, 60, |claim, job| async move {
            match job {
                Job::WebhookSend(job) => send(store, claim, job.delivery_id, allow_private).await,
                other => Outcome::Fail(format!("not a webhook: {:?}", other.kind())),
            }
        })
        .await
}

async fn send(store: &Store, claim: Claim, delivery: i64, allow_private: bool) -> Outcome {
    let outgoing = match store.webhook_outgoing(delivery).await {
        Ok(o) => o,
        Err(atiende_store::StoreError::NotFound(_)) => {
            return Outcome::Fail("the subscription was removed".into());
        }
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    if !outgoing.active {
        let reason = "the subscription is turned off";
        if let Err(e) = store.drop_webhook_delivery(delivery, reason).await {
            return Outcome::Retry(e.to_string());
        }
        return Outcome::Fail(reason.into());
    }
    let answer = tokio::task::spawn_blocking(move || post(&outgoing, allow_private))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let last = claim.attempts >= MAX_ATTEMPTS;
    match store.record_webhook_attempt(delivery, &answer, last).await {
        Ok(true) => tracing::warn!(
            webhook.delivery = delivery,
            "webhook endpoint turned off after repeated failures"
        ),
        Ok(false) => {}
        Err(e) => return Outcome::Retry(e.to_string()),
    }
    match answer {
        Ok(status) if (200..300).contains(&status) => Outcome::Done,
        Ok(status) => Outcome::Retry(format!("the endpoint answered {status}")),
        Err(e) => Outcome::Retry(e),
    }
}

/// One POST of the delivery's body with the Standard Webhooks headers; the endpoint's status,
/// or why it could not be reached. Redirects are not followed.
fn post(o: &Outgoing, allow_private: bool) -> Result<u16, String> {
    let url = url::Url::parse(&o.url).map_err(|e| format!("address: {e}"))?;
    if !allow_private {
        let host = url.host_str().ok_or("address without host")?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<_> = (host.trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if addresses.is_empty() || addresses.iter().any(|a| forbidden_address(a.ip())) {
            return Err(format!("{host} resolves to a private address: not called"));
        }
    }
    let body = o.delivery.payload.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signed = signature(
        o.secret.expose(),
        &o.delivery.message_id,
        timestamp,
        body.as_bytes(),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let response = agent
        .post(o.url.as_str())
        .header("content-type", "application/json")
        .header("user-agent", "atiende-webhooks")
        .header("webhook-id", o.delivery.message_id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .send(body.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}
