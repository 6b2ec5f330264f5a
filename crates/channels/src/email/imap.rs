//! Reading a mailbox over IMAP. The position (UIDVALIDITY, last UID) lives in the database; a
//! message is flagged `\Seen` only after its incident is committed, and its Message-ID is
//! unique, so an interrupted fetch loses nothing and duplicates nothing.

use std::sync::Arc;

use async_imap::Session;
use atiende_store::Store;
use atiende_store::email::{IngestOutcome, Mailbox};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How many messages are fetched per round trip.
const BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("imap: {0}")]
    Imap(String),
    #[error("storing a message failed: {0}")]
    Store(#[from] atiende_store::StoreError),
    #[error(transparent)]
    Token(#[from] super::oauth::TokenError),
}

impl From<async_imap::error::Error> for PollError {
    fn from(e: async_imap::error::Error) -> Self {
        PollError::Imap(e.to_string())
    }
}

impl From<std::io::Error> for PollError {
    fn from(e: std::io::Error) -> Self {
        PollError::Imap(e.to_string())
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub fetched: usize,
    pub created: usize,
    pub joined: usize,
    pub duplicates: usize,
    pub automatic: usize,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = super::trust::roots();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    Arc::new(config)
}

async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<S>, PollError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| PollError::Imap(e.to_string()))?;
    Ok(tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, stream)
        .await?)
}

/// How long the server may keep silent, or keep us from writing, before the reading is given
/// up: a server that accepted the connection and then stalls must not hold the worker (every
/// other job of this instance waits behind it).
const SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls one mailbox once: connects (TLS, STARTTLS or plain), reads new messages in UID order
/// and ingests each.
pub async fn poll(store: &Store, mailbox: &Mailbox) -> Result<PollReport, PollError> {
    poll_within(store, mailbox, SILENCE_LIMIT).await
}

/// [`poll`], giving up when the server keeps silent for `silence` (tests use a short one).
pub async fn poll_within(
    store: &Store,
    mailbox: &Mailbox,
    silence: std::time::Duration,
) -> Result<PollReport, PollError> {
    let port = u16::try_from(mailbox.imap_port).map_err(|_| PollError::Imap("bad port".into()))?;
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        TcpStream::connect((mailbox.imap_host.as_str(), port)),
    )
    .await
    .map_err(|_| PollError::Imap("connection timed out".into()))??;
    let mut tcp = tokio_io_timeout::TimeoutStream::new(tcp);
    tcp.set_read_timeout(Some(silence));
    tcp.set_write_timeout(Some(silence));
    let tcp = Box::pin(tcp);
    match mailbox.imap_security.as_str() {
        "tls" => {
            login_and_read(
                store,
                mailbox,
                async_imap::Client::new(tls(tcp, &mailbox.imap_host).await?),
                true,
            )
            .await
        }
        "starttls" => {
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            let stream = tls(client.into_inner(), &mailbox.imap_host).await?;
            // After STARTTLS the server sends no second greeting.
            login_and_read(store, mailbox, async_imap::Client::new(stream), false).await
        }
        _ => login_and_read(store, mailbox, async_imap::Client::new(tcp), true).await,
    }
}

async fn login_and_read<T>(
    store: &Store,
    mailbox: &Mailbox,
    mut client: async_imap::Client<T>,
    greeting: bool,
) -> Result<PollReport, PollError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    if greeting {
        client.read_response().await?;
    }
    let session = if mailbox.auth.uses_oauth() {
        sign_in_with_token(store, mailbox, client).await?
    } else {
        client
            .login(&mailbox.imap_user, mailbox.imap_password.expose())
            .await
            .map_err(|(e, _)| e)?
    };
    read_new(store, mailbox, session).await
}

/// Signs in with the mailbox's access token; a token the server refuses (expired early,
/// revoked) is replaced by a fresh one once, on the same connection.
async fn sign_in_with_token<T>(
    store: &Store,
    mailbox: &Mailbox,
    client: async_imap::Client<T>,
) -> Result<Session<T>, PollError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use super::oauth::{TokenAuthenticator, access_token, mechanism};
    let port = u16::try_from(mailbox.imap_port).unwrap_or(993);
    let sasl = |token| {
        TokenAuthenticator::new(
            mailbox.auth,
            &mailbox.imap_user,
            &mailbox.imap_host,
            port,
            token,
        )
    };
    let token = access_token(store, mailbox, None).await?;
    match client
        .authenticate(mechanism(mailbox.auth), sasl(&token))
        .await
    {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(why), client)) => {
            tracing::info!(mailbox.name = %mailbox.name, %why, "IMAP refused the access token; refreshing it");
            let fresh = access_token(store, mailbox, Some(&token)).await?;
            client
                .authenticate(mechanism(mailbox.auth), sasl(&fresh))
                .await
                .map_err(|(e, _)| e.into())
        }
        Err((e, _)) => Err(e.into()),
    }
}

async fn read_new<T>(
    store: &Store,
    mailbox: &Mailbox,
    mut session: Session<T>,
) -> Result<PollReport, PollError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let selected = session.select(&mailbox.imap_folder).await?;
    let uidvalidity = i64::from(selected.uid_validity.unwrap_or(0));
    // A new UIDVALIDITY means the server renumbered the folder: read it again from the start;
    // Message-IDs keep what was already ingested from being ingested twice.
    let mut last_uid = if mailbox.uidvalidity == Some(uidvalidity) {
        mailbox.last_uid
    } else {
        0
    };
    let mut uids: Vec<u32> = session
        .uid_search(format!("UID {}:*", last_uid + 1))
        .await?
        .into_iter()
        .filter(|u| i64::from(*u) > last_uid)
        .collect();
    uids.sort_unstable();
    let mut report = PollReport::default();
    for chunk in uids.chunks(BATCH) {
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut messages: Vec<(u32, Vec<u8>)> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_filter_map(|f| async move { Ok(f.uid.zip(f.body().map(<[u8]>::to_vec))) })
            .try_collect()
            .await?;
        messages.sort_by_key(|(uid, _)| *uid);
        for (uid, raw) in messages {
            let email = super::parse(&raw);
            let outcome = store.ingest_email(Some(mailbox), &email, &raw).await?;
            report.fetched += 1;
            match outcome {
                IngestOutcome::Created(_) => report.created += 1,
                IngestOutcome::Joined(_) => report.joined += 1,
                IngestOutcome::Duplicate(_) => report.duplicates += 1,
                IngestOutcome::Automatic => report.automatic += 1,
            }
            // Committed: now the server may know we have it.
            let _: Vec<_> = session
                .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                .await?
                .try_collect()
                .await?;
            last_uid = i64::from(uid);
            store
                .set_imap_position(mailbox.id, uidvalidity, last_uid, None)
                .await?;
        }
    }
    if uids.is_empty() {
        store
            .set_imap_position(mailbox.id, uidvalidity, last_uid, None)
            .await?;
    }
    let _ = session.logout().await;
    Ok(report)
}
