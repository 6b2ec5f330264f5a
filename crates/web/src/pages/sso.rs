//! Staff sign-in through the institution's identity providers (see [`crate::sso`]): the
//! login page's button sends the browser to the provider, which sends it back to the
//! callback; the callback verifies the answer, decides who the person is in atiende
//! ([`atiende_domain::sign_in::decide`]) and opens their session.

use atiende_domain::sign_in::{Decision, Identity, decide};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::login::login_form;
use super::safe_next;
use crate::AppState;
use crate::auth::{cookie, cookie_value_from, open_session};
use crate::error::request_lang_of;
use crate::i18n::error_message;
use crate::rate_limit::ClientAddr;
use crate::sso::{FLOW_COOKIE, Flow};
use atiende_domain::sign_in::IdentityProvider;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/sso/{id}", get(begin))
        .route("/login/sso/{id}/callback", get(callback))
}

/// Where the provider sends the browser back: registered with the provider as is.
fn redirect_uri(state: &AppState, id: &str) -> String {
    format!(
        "{}/login/sso/{id}/callback",
        state.config.base_url.trim_end_matches('/')
    )
}

/// The login page again, saying why (in the reader's language), with `status`.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    next: String,
    code: &str,
    status: StatusCode,
) -> Response {
    let lang = request_lang_of(headers);
    let message = error_message(code, &[], None, None, lang);
    let mut response = login_form(state, lang, next, String::new(), Some(message)).await;
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

async fn begin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(p): Query<NextParam>,
) -> Response {
    let next = safe_next(p.next.as_deref());
    let Some(provider) = state.sso.get(&state.store, &id).await else {
        return refused(&state, &headers, next, "sso_failed", StatusCode::NOT_FOUND).await;
    };
    let key = match state.store.installation_secret("sso").await {
        Ok(k) => k,
        Err(e) => return crate::error::AppError::from(e).into_response(),
    };
    match state
        .sso
        .begin(&provider, &redirect_uri(&state, &id), &next)
        .await
    {
        Ok((url, flow)) => {
            let secure = state.config.secure_cookies();
            // Lax: the provider's redirect back is a top-level navigation from its site.
            let sealed = cookie(
                FLOW_COOKIE,
                &flow.seal(&key),
                "/login/sso",
                "Lax",
                600,
                secure,
            );
            (
                AppendHeaders([(header::SET_COOKIE, sealed)]),
                Redirect::to(&url),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(sso.provider = %id, error = %e, "sso: cannot begin a sign-in");
            refused(
                &state,
                &headers,
                next,
                "sso_failed",
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

/// What an OAuth 2.0 / OpenID provider sends the browser back with (RFC 6749 §4.1.2).
#[derive(Deserialize)]
pub(super) struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

impl CallbackParams {
    /// Whether the `state` that came back is the one given (compared in constant time).
    pub fn state_is(&self, given: &str) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(given.as_bytes())))
    }
}

async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let key = match state.store.installation_secret("sso").await {
        Ok(k) => k,
        Err(e) => return crate::error::AppError::from(e).into_response(),
    };
    let now = chrono::Utc::now().timestamp();
    // The browser that comes back must be the one that left, in time, for this provider,
    // with the state it was given.
    let flow = cookie_value_from(&headers, FLOW_COOKIE)
        .and_then(|v| Flow::open(v, &key, now))
        .filter(|f| f.provider == id)
        .filter(|f| p.state_is(&f.state));
    let provider = state.sso.get(&state.store, &id).await;
    let (Some(flow), Some(provider)) = (flow, provider) else {
        tracing::info!(client.address = %address, sso.provider = %id, "sso: a callback without its sign-in");
        return refused(
            &state,
            &headers,
            safe_next(None),
            "sso_failed",
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let next = safe_next(Some(&flow.next));
    let code = match (&p.error, &p.code) {
        (None, Some(code)) => code.clone(),
        _ => {
            tracing::info!(client.address = %address, sso.provider = %id, sso.error = ?p.error, "sso: the provider did not sign the person in");
            return refused(&state, &headers, next, "sso_failed", StatusCode::FORBIDDEN).await;
        }
    };
    let identity = match state
        .sso
        .finish(&provider, &redirect_uri(&state, &id), &flow, &code)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(client.address = %address, sso.provider = %id, error = %e, "sso: sign-in refused");
            return refused(&state, &headers, next, "sso_failed", StatusCode::FORBIDDEN).await;
        }
    };
    let user = match account_of(&state, &provider, &identity).await {
        Ok(Ok(user)) => user,
        Ok(Err(code)) => {
            tracing::info!(client.address = %address, sso.provider = %id, user.email = ?identity.email, reason = code, "sso: no account for this person");
            return refused(&state, &headers, next, code, StatusCode::FORBIDDEN).await;
        }
        Err(e) => return e.into_response(),
    };
    match open_session(&state, &headers, &address, user, Some(&id)).await {
        Ok(session) => {
            let secure = state.config.secure_cookies();
            let spent = cookie(FLOW_COOKIE, "", "/login/sso", "Lax", 0, secure);
            let cookies = AppendHeaders([
                (header::SET_COOKIE, session.set_cookie),
                (header::SET_COOKIE, session.device_cookie),
                (header::SET_COOKIE, spent),
            ]);
            (cookies, Redirect::to(&next)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The staff account a verified identity signs in as, created where the provider's rules
/// allow it and kept in step with the person's groups where they map; or the refusal's code.
async fn account_of(
    state: &AppState,
    provider: &IdentityProvider,
    identity: &Identity,
) -> Result<Result<StaffUser, &'static str>, crate::error::AppError> {
    let accounts = state.store.users_with_email(&identity.email).await?;
    let rules = &provider.accounts;
    let (group_role, group_units) = rules.from_groups(&identity.groups);
    let unit_ids = unit_ids(state, &group_units).await?;
    match decide(identity, &accounts, rules) {
        Decision::Refuse(r) => Ok(Err(r.code())),
        Decision::Create { role, .. } => {
            let input = UserInput {
                login: Some(identity.email.clone()),
                name: Some(identity.name.clone()),
                email: Some(identity.email.clone()),
                role: Some(role),
                unit_ids: Some(unit_ids),
                // Never used: the person signs in through the provider.
                password: Some(atiende_store::users::random_token()),
                ..Default::default()
            };
            let created = state.store.create_user(Actor::System, &input).await?;
            tracing::info!(user.login = %created.user.login, role = role.code(), sso.provider = %provider.id, "sso: account created");
            Ok(Ok(created.user))
        }
        Decision::SignIn(id) => {
            let user = state.store.user(id).await?;
            let Some(role) = group_role.filter(|_| user.role != Role::Admin) else {
                return Ok(Ok(user));
            };
            if role == user.role && unit_ids == user.unit_ids {
                return Ok(Ok(user));
            }
            // The provider's groups say what the person does now.
            let input = UserInput {
                role: Some(role),
                unit_ids: Some(unit_ids),
                ..Default::default()
            };
            match state.store.update_user(Actor::System, id, &input).await {
                Ok(updated) => Ok(Ok(updated)),
                Err(e) => {
                    tracing::warn!(user.login = %user.login, error = %e, "sso: the groups' role could not be applied");
                    Ok(Ok(user))
                }
            }
        }
    }
}

/// The ids of the units named (as the configuration names them, regardless of case).
async fn unit_ids(
    state: &AppState,
    names: &[String],
) -> Result<Vec<atiende_domain::ids::UnitId>, crate::error::AppError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<_> = state
        .store
        .units()
        .await?
        .into_iter()
        .filter(|u| names.iter().any(|n| n.eq_ignore_ascii_case(&u.name)))
        .map(|u| u.id)
        .collect();
    ids.sort();
    Ok(ids)
}
