//! Mailboxes that sign in with OAuth 2.0 tokens, against real parts: the local OpenID provider
//! (npm's `oidc-provider`, which rotates refresh tokens as Microsoft's does) and the local
//! Dovecot, whose oauth2 passdb asks the provider whether each token is active. An expiring
//! token is refreshed before use, a token the server refuses is replaced, two instances
//! needing a token at once refresh it once, and a revoked grant is reported and left alone.

use std::time::Duration;

use atiende_channels::email::oauth::{self, TokenError};
use atiende_channels::email::{imap, jobs};
use atiende_channels::testing::{self as provider, Client};
use atiende_domain::mail_auth::{GrantState, MailAuth};
use atiende_store::email::Mailbox;
use atiende_store::testing::TestDb;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

atiende_store::on_both_engines!(
    a_mailbox_signs_in_by_oauthbearer_and_refreshes_its_token_before_it_expires,
    a_token_the_server_refuses_is_replaced_and_the_mail_still_comes_in,
    two_instances_needing_a_fresh_token_at_once_refresh_it_once,
    an_answer_leaves_by_token_on_submission_even_after_a_refused_token,
    a_revoked_grant_is_reported_and_the_mailbox_waits_for_an_administrator,
);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}@test.local",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000_000
    )
}

/// A mailbox connected through the provider, signing in by `auth`; and its application.
async fn connected(db: &TestDb, address: &str, auth: MailAuth) -> (Mailbox, Client) {
    let (m, client) = provider::mailbox_by_token(db, address, auth, true).await;
    assert_eq!(m.grant, GrantState::Connected);
    (m, client)
}

async fn deliver(to: &str, subject: &str) -> String {
    let (smtp, _) = atiende_store::testing::require_mail_server();
    let from = unique("ana");
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\r\nHola\r\n",
        unique("msg")
    );
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp)
        .build()
        .send_raw(
            &lettre::address::Envelope::new(
                Some(from.parse().expect("from")),
                vec![to.parse().expect("to")],
            )
            .expect("envelope"),
            raw.as_bytes(),
        )
        .await
        .expect("delivered");
    from
}

/// Polls until one message was read (delivery is asynchronous).
async fn poll_one(db: &TestDb, id: i64) -> Result<imap::PollReport, imap::PollError> {
    for _ in 0..100 {
        let m = db.mailbox(id).await.expect("mailbox");
        let report = imap::poll(db, &m).await?;
        if report.fetched > 0 {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the message never arrived");
}

/// Makes the access token on record look as if it expires now.
async fn expire_access_token(db: &TestDb, id: i64) -> atiende_store::mail_auth::OAuthTokens {
    let mut tokens = db.mailbox_tokens(id).await.expect("tokens");
    tokens.expires_at = Some(chrono::Utc::now().timestamp() - 1);
    let refresh = std::mem::take(&mut tokens.refresh_token);
    db.store_refreshed_tokens(id, &tokens)
        .await
        .expect("expired");
    tokens.refresh_token = refresh;
    tokens
}

async fn a_mailbox_signs_in_by_oauthbearer_and_refreshes_its_token_before_it_expires(db: TestDb) {
    let cap = unique("cap-bearer");
    let (m, _) = connected(&db, &cap, MailAuth::Oauthbearer).await;
    deliver(&cap, "Constancia").await;
    assert_eq!(poll_one(&db, m.id).await.expect("read").created, 1);

    let before = expire_access_token(&db, m.id).await;
    deliver(&cap, "Otra constancia").await;
    assert_eq!(
        poll_one(&db, m.id).await.expect("read").created,
        1,
        "read with a fresh token"
    );
    let after = db.mailbox_tokens(m.id).await.expect("tokens");
    assert_ne!(
        after.access_token, before.access_token,
        "a new access token"
    );
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the rotated refresh token kept"
    );
    assert!(after.expires_at.expect("expiry") > chrono::Utc::now().timestamp() + 600);
    let stored = db.mailbox(m.id).await.expect("mailbox");
    assert_eq!(stored.grant, GrantState::Connected);
}

async fn a_token_the_server_refuses_is_replaced_and_the_mail_still_comes_in(db: TestDb) {
    let cap = unique("cap-refused");
    let (m, _) = connected(&db, &cap, MailAuth::Xoauth2).await;
    let before = db.mailbox_tokens(m.id).await.expect("tokens");
    // The provider drops the access token alone (its expiry on record still far off):
    // Dovecot's introspection now says it is not active.
    provider::forget_access_token(before.access_token.expose()).await;
    deliver(&cap, "Baja de materia").await;
    assert_eq!(poll_one(&db, m.id).await.expect("read").created, 1);
    let after = db.mailbox_tokens(m.id).await.expect("tokens");
    assert_ne!(after.access_token, before.access_token);
    assert_eq!(
        db.mailbox(m.id).await.expect("mailbox").grant,
        GrantState::Connected
    );
}

async fn two_instances_needing_a_fresh_token_at_once_refresh_it_once(db: TestDb) {
    let cap = unique("cap-both");
    let (m, _) = connected(&db, &cap, MailAuth::Xoauth2).await;
    expire_access_token(&db, m.id).await;
    // The provider rotates refresh tokens and revokes the grant when a spent one is used
    // again: had both refreshed, the second would have lost the mailbox.
    let (a, b) = tokio::join!(
        oauth::access_token(&db, &m, None),
        oauth::access_token(&db, &m, None)
    );
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_eq!(a, b, "one refresh, its token shared");
    assert_eq!(
        db.mailbox(m.id).await.expect("mailbox").grant,
        GrantState::Connected
    );
    deliver(&cap, "Inscripción").await;
    assert_eq!(poll_one(&db, m.id).await.expect("read").created, 1);
}

async fn an_answer_leaves_by_token_on_submission_even_after_a_refused_token(db: TestDb) {
    let cap = unique("cap-answer");
    let (m, _) = connected(&db, &cap, MailAuth::Xoauth2).await;
    let ana = deliver(&cap, "Constancia de estudios").await;
    assert_eq!(poll_one(&db, m.id).await.expect("read").created, 1);
    // The token that read the message is dropped by the provider before the answer leaves.
    let before = db.mailbox_tokens(m.id).await.expect("tokens");
    provider::forget_access_token(before.access_token.expose()).await;
    assert_eq!(
        jobs::send_due(&db, "http://atiende.test").await,
        1,
        "the acknowledgement leaves with a fresh token"
    );
    assert_ne!(
        db.mailbox_tokens(m.id).await.expect("tokens").access_token,
        before.access_token
    );
    let received = provider::inbox_of(&ana, 1).await;
    assert!(String::from_utf8_lossy(&received[0]).contains("Constancia de estudios"));
}

async fn a_revoked_grant_is_reported_and_the_mailbox_waits_for_an_administrator(db: TestDb) {
    let cap = unique("cap-revoked");
    let (m, client) = connected(&db, &cap, MailAuth::Xoauth2).await;
    let tokens = db.mailbox_tokens(m.id).await.expect("tokens");
    // Someone withdrew the consent: the refresh token, and with it the grant, is revoked.
    provider::revoke(&client, tokens.refresh_token.expose()).await;
    deliver(&cap, "Titulación").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let error = imap::poll(&db, &m).await.expect_err("refused");
    assert!(
        matches!(error, imap::PollError::Token(TokenError::Revoked(_))),
        "{error:?}"
    );
    let stored = db.mailbox(m.id).await.expect("mailbox");
    assert_eq!(stored.grant, GrantState::Revoked);
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("vuelva a conectar")),
        "{:?}",
        stored.last_error
    );
    assert!(
        db.mailbox_tokens(m.id)
            .await
            .expect("tokens")
            .refresh_token
            .is_empty(),
        "nothing kept that opens nothing"
    );
    // The worker leaves it alone until an administrator connects it again.
    assert_eq!(jobs::poll_mailboxes(&db, "worker-1").await, 0);
    let audit = db
        .audit(&atiende_store::audit::AuditQuery {
            entity_id: Some(format!("mailbox:{}", m.id)),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "mailbox.revoked"),
        "the trail says when"
    );
    // Connecting again mends it, and the message waiting on the server comes in.
    let again = provider::connect(&db, &stored, &cap).await;
    assert_eq!(again.grant, GrantState::Connected);
    assert_eq!(poll_one(&db, m.id).await.expect("read").created, 1);
}
