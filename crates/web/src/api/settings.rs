//! Settings by API that belong to no other area: how staff sign in. (The survey's, the
//! targets', the nonconformity criteria and retention are with their areas.)

use atiende_domain::access::Action;
use atiende_domain::sign_in::SignInPolicy;
use atiende_store::Actor;
use atiende_store::settings::key;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, save_sign_in))
}

/// Whether staff must sign in through the institution's identity provider, and the local
/// break-glass administrator who keeps a password for the day it is down.
#[utoipa::path(get, path = "/settings/sign-in", tag = "settings", responses((status = 200, body = SignInPolicy)))]
async fn sign_in(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SignInPolicy>, AppError> {
    caller.require(Action::UserWrite)?;
    Ok(Json(state.store.setting(key::SIGN_IN_POLICY).await?))
}

/// Requiring single sign-on needs an identity provider and an enabled administrator as the
/// break-glass account.
#[utoipa::path(put, path = "/settings/sign-in", tag = "settings",
    request_body(content = SignInPolicy, example = json!({"sso_required": true, "break_glass_login": "admin"})),
    responses((status = 200, body = SignInPolicy), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_sign_in(
    State(state): State<AppState>,
    caller: Caller,
    Json(policy): Json<SignInPolicy>,
) -> Result<Json<SignInPolicy>, AppError> {
    let user = caller.require(Action::UserWrite)?;
    state.sso.check_policy(&state.store, &policy).await?;
    state
        .store
        .save_sign_in_policy(Actor::Staff(user), &policy)
        .await?;
    Ok(Json(state.store.setting(key::SIGN_IN_POLICY).await?))
}
