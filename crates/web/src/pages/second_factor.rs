//! Setting up and keeping one's second factor: the authenticator app's QR code (rendered
//! here, nothing leaves the server), the first code that proves the app holds the secret, the
//! recovery codes shown once, and removing it. Administrators remove someone's when a phone
//! is lost (`admin.rs`).

use atiende_domain::second_factor::otpauth_url;
use atiende_store::Actor;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{ENROLMENT_PAGE, PageError, PageUser, Posted, render};
use crate::AppState;
use crate::auth::check_second_factor;
use crate::error::AppError;
use crate::rate_limit::ClientAddr as ClientAddrOf;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ENROLMENT_PAGE, get(page).post(confirm))
        .route("/preferencias/segundo-factor/codigos", post(renew_codes))
        .route("/preferencias/segundo-factor/quitar", post(remove))
}

#[derive(askama::Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    ctx: super::Ctx,
    enrolled: bool,
    /// The person's role needs one: nothing else until it is set up.
    required: bool,
    codes_left: i64,
    /// Enrolling: the QR code (SVG) and the secret to type in instead.
    qr: String,
    secret: String,
    /// Just made: shown in this one answer.
    recovery_codes: Vec<String>,
    error: Option<String>,
}

async fn show(
    state: &AppState,
    page: PageUser,
    recovery_codes: Vec<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let user = page.user.clone();
    let (mut qr, mut secret) = (String::new(), String::new());
    if !user.second_factor {
        // The same secret until it is confirmed: reloading must not undo a scan.
        secret = match state.store.pending_second_factor(user.id).await? {
            Some(s) => s,
            None => state.store.begin_second_factor(user.id).await?,
        };
        qr = otpauth_url(&secret, &user.login)
            .and_then(|url| qr_svg(&url))
            .unwrap_or_default();
    }
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let codes_left = state.store.recovery_codes_left(user.id).await?;
    let mut response = render(&SecondFactorPage {
        ctx: page.ctx("preferencias"),
        enrolled: user.second_factor,
        required: state.config.second_factor.required_for(user.role),
        codes_left,
        qr,
        secret,
        recovery_codes,
        error,
    });
    *response.status_mut() = status;
    Ok(response)
}

/// The QR code of an `otpauth://` address as inline SVG (drawn with attributes, not styles,
/// so the security policy lets it show).
fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Inline in the page: the XML declaration has no place there.
    Some(match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    })
}

async fn page(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    show(&state, page, Vec::new(), None).await
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

fn refused(page: &PageUser, e: impl Into<AppError>) -> String {
    crate::i18n::describe_error(&e.into(), page.user.language)
}

/// The first code from the app: the secret becomes the account's.
async fn confirm(
    State(state): State<AppState>,
    posted: Posted<CodeForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    if page.user.second_factor {
        return Ok(Redirect::to(ENROLMENT_PAGE).into_response());
    }
    let user = page.user.clone();
    match state.store.confirm_second_factor(&user, &form.code).await {
        Ok(codes) => {
            let page = PageUser {
                user: state.store.user(user.id).await?,
                csrf: page.csrf,
                unread: page.unread,
                latest_notification: page.latest_notification,
            };
            show(&state, page, codes, None).await
        }
        Err(e) => {
            let message = refused(&page, e);
            show(&state, page, Vec::new(), Some(message)).await
        }
    }
}

/// What a change to one's second factor does once the app's code proves it is them.
enum Change {
    RenewCodes,
    Remove,
}

/// New recovery codes in place of the old, proving the app first.
async fn renew_codes(
    State(state): State<AppState>,
    ClientAddrOf(address): ClientAddrOf,
    posted: Posted<CodeForm>,
) -> Result<Response, PageError> {
    proven_then(&state, &address, posted, Change::RenewCodes).await
}

/// Removes one's own second factor, proving the app first.
async fn remove(
    State(state): State<AppState>,
    ClientAddrOf(address): ClientAddrOf,
    posted: Posted<CodeForm>,
) -> Result<Response, PageError> {
    proven_then(&state, &address, posted, Change::Remove).await
}

async fn proven_then(
    state: &AppState,
    address: &str,
    posted: Posted<CodeForm>,
    change: Change,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let user = page.user.clone();
    if let Err(e) = check_second_factor(state, address, &user, &form.code).await {
        let message = code_refusal(&e, page.user.language);
        return show(state, page, Vec::new(), Some(message)).await;
    }
    match change {
        Change::RenewCodes => {
            let codes = state.store.renew_recovery_codes(&user).await?;
            show(state, page, codes, None).await
        }
        Change::Remove => {
            state
                .store
                .remove_second_factor(Actor::Staff(&user), user.id)
                .await?;
            Ok(Redirect::to(ENROLMENT_PAGE).into_response())
        }
    }
}

/// Why a code was refused, in the person's words: a wrong (or spent) code says so; other
/// refusals (too many attempts) say theirs. The console's code page says the same.
pub(super) fn code_refusal(e: &AppError, lang: atiende_domain::classification::Lang) -> String {
    match e {
        AppError::Unauthorized => {
            crate::i18n::field_message(&atiende_domain::FieldError::new("code", "wrong_code"), lang)
        }
        other => crate::i18n::describe_error(other, lang),
    }
}
