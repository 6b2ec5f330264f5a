//! Connecting a mailbox that signs in by OAuth 2.0 token with its provider (Google Workspace,
//! Microsoft 365, or any provider by its addresses): an administrator follows the link on the
//! mailbox, consents at the provider as the mailbox's account, and the provider sends the
//! browser back here with a code, which becomes the mailbox's tokens (sealed in the database;
//! see [`atiende_channels::email::oauth`]). As with single sign-on, the consent in progress
//! travels in a short-lived cookie signed by the installation, so any instance finishes it.

use atiende_channels::email::oauth::{self, Consent};
use atiende_domain::access::Action;
use atiende_store::Actor;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::sso::CallbackParams;
use super::{PageError, PageUser};
use crate::AppState;
use crate::auth::{cookie, cookie_value_from, seal, unseal};

const CONSENT_COOKIE: &str = "atiende_mail_consent";
const COOKIE_PATH: &str = "/admin/buzones";
const PURPOSE: &str = "mailbox-consent";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/buzones/{id}/conectar", get(begin))
        .route("/admin/buzones/oauth", get(callback))
}

/// Where the provider sends the browser back: registered with the provider's application.
pub fn redirect_uri(state: &AppState) -> String {
    format!(
        "{}/admin/buzones/oauth",
        state.config.base_url.trim_end_matches('/')
    )
}

async fn begin(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    page: PageUser,
) -> Result<Response, PageError> {
    page.require(Action::UnitWrite)?;
    let mailbox = state.store.mailbox(id).await?;
    let key = state.store.installation_secret("mailbox-consent").await?;
    match oauth::consent_url(&mailbox, &redirect_uri(&state)) {
        Ok((url, consent)) => {
            // Lax: the provider's redirect back is a top-level navigation from its site.
            let sealed = cookie(
                CONSENT_COOKIE,
                &seal(&key, PURPOSE, &consent),
                COOKIE_PATH,
                "Lax",
                600,
                state.config.secure_cookies(),
            );
            Ok((
                AppendHeaders([(header::SET_COOKIE, sealed)]),
                Redirect::to(&url),
            )
                .into_response())
        }
        Err(e) => {
            tracing::warn!(mailbox.name = %mailbox.name, error = %e, "mailbox consent cannot begin");
            refused(&state, page).await
        }
    }
}

async fn callback(
    State(state): State<AppState>,
    page: PageUser,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Result<Response, PageError> {
    page.require(Action::UnitWrite)?;
    let key = state.store.installation_secret("mailbox-consent").await?;
    let now = chrono::Utc::now().timestamp();
    // The browser that comes back must be the one that left, in time, with its state.
    let consent = cookie_value_from(&headers, CONSENT_COOKIE)
        .and_then(|v| unseal::<Consent>(&key, PURPOSE, v))
        .filter(|c| c.expires > now)
        .filter(|c| p.state_is(&c.state));
    let (Some(consent), None, Some(code)) = (consent, &p.error, &p.code) else {
        tracing::info!(oauth.error = ?p.error, "mailbox consent: a callback without its consent, or refused");
        return refused(&state, page).await;
    };
    let mailbox = state.store.mailbox(consent.mailbox).await?;
    match oauth::redeem(&mailbox, &redirect_uri(&state), &consent, code).await {
        Ok(tokens) => {
            let admin = page.user.clone();
            state
                .store
                .connect_mailbox(Actor::Staff(&admin), mailbox.id, &tokens, &admin.login)
                .await?;
            tracing::info!(mailbox.name = %mailbox.name, "mailbox connected with its provider");
            let spent = cookie(
                CONSENT_COOKIE,
                "",
                COOKIE_PATH,
                "Lax",
                0,
                state.config.secure_cookies(),
            );
            Ok((
                AppendHeaders([(header::SET_COOKIE, spent)]),
                Redirect::to("/admin?ok=1#buzones"),
            )
                .into_response())
        }
        Err(e) => {
            tracing::warn!(mailbox.name = %mailbox.name, error = %e, "mailbox consent refused");
            refused(&state, page).await
        }
    }
}

/// The administration page again, saying the provider did not authorise the mailbox.
async fn refused(state: &AppState, page: PageUser) -> Result<Response, PageError> {
    let t = crate::i18n::Tr(page.user.language);
    let message = t
        .s("El proveedor no autorizó el buzón. Revise la aplicación (identificador, secreto y direcciones) y vuelva a conectarlo.")
        .to_string();
    super::admin::admin_page(state, page, None, Some(message)).await
}
