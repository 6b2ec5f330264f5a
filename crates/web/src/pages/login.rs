//! Log in and out, the password change a temporary password requires, and preferences.

use atiende_domain::classification::Lang;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{Ctx, PageError, PageUser, Posted, render, safe_next};
use crate::AppState;
use crate::auth::{
    SESSION_COOKIE, check_password_login, check_second_factor, cookie_value_from, open_session,
    session_cookie,
};
use crate::error::{AppError, request_lang_of};
use crate::i18n::{Tr, error_message};
use crate::rate_limit::ClientAddr;

const LOGIN_CSRF_COOKIE: &str = "atiende_login_csrf";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/bandeja") }))
        .route("/login", get(login_page).post(login))
        .route("/login/codigo", axum::routing::post(login_code))
        .route("/logout", axum::routing::post(logout))
        .route("/clave", get(password_page).post(change_password))
        .route(
            "/preferencias",
            get(preferences_page).post(save_preferences),
        )
        .route(
            "/preferencias/cerrar-sesiones",
            axum::routing::post(end_other_sessions),
        )
        .route("/preferencias/tokens", axum::routing::post(create_token))
        .route(
            "/preferencias/tokens/{id}/revocar",
            axum::routing::post(revoke_token),
        )
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    next: String,
    login: String,
    error: Option<String>,
    /// The identity providers' buttons: (id, name).
    providers: Vec<(String, String)>,
    /// Passwords are for the break-glass account only: the form folds away.
    sso_required: bool,
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// The login page: a button per identity provider, and the password form. The form carries a
/// token tied to a cookie (double submit), so that another site cannot log a browser into an
/// account of its choosing.
pub(super) async fn login_form(
    state: &AppState,
    lang: Lang,
    next: String,
    login: String,
    error: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let policy: atiende_domain::sign_in::SignInPolicy = state
        .store
        .setting(atiende_store::settings::key::SIGN_IN_POLICY)
        .await
        .unwrap_or_default();
    let page = LoginPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        next,
        login,
        error,
        providers: state
            .sso
            .all(&state.store)
            .await
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect(),
        sso_required: policy.sso_required,
    };
    let secure = state.config.secure_cookies();
    let cookie = crate::auth::cookie(LOGIN_CSRF_COOKIE, &csrf, "/login", "Strict", 3600, secure);
    let mut response = render(&page);
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<NextParam>,
) -> Response {
    login_form(
        &state,
        request_lang_of(&headers),
        safe_next(p.next.as_deref()),
        String::new(),
        None,
    )
    .await
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    _csrf: String,
    login: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    let next = safe_next(form.next.as_deref());
    let expected = cookie_value_from(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form._csrf.as_bytes())) {
        let message = error_message("csrf", &[], None, None, lang);
        return login_form(&state, lang, next, form.login, Some(message)).await;
    }
    let user =
        match check_password_login(&state, &headers, &address, &form.login, &form.password).await {
            Ok(user) => user,
            Err(e) => {
                let message = match &e {
                    AppError::Unauthorized => {
                        Tr(lang).s("Usuario o contraseña incorrectos.").to_string()
                    }
                    other => error_message(other.code(), &[], None, None, lang),
                };
                let mut response = login_form(&state, lang, next, form.login, Some(message)).await;
                *response.status_mut() = e.status();
                return response;
            }
        };
    if user.second_factor {
        // The password is right; the code comes next, on a page of its own. The browser
        // carries who it is for, signed, for five minutes.
        let key = match state.store.installation_secret("second-factor").await {
            Ok(k) => k,
            Err(e) => return AppError::from(e).into_response(),
        };
        let challenge = CodeChallenge {
            user: user.id.0,
            next,
            expires: chrono::Utc::now().timestamp() + 300,
        };
        let sealed = crate::auth::seal(&key, CODE_PURPOSE, &challenge);
        let secure = state.config.secure_cookies();
        let set = crate::auth::cookie(CODE_COOKIE, &sealed, "/login", "Strict", 300, secure);
        let page = code_page(lang, form._csrf, None);
        return (AppendHeaders([(header::SET_COOKIE, set)]), page).into_response();
    }
    signed_in(&state, &headers, &address, user, next).await
}

/// Opens the session and goes on: to the password change a temporary password requires, or
/// where the person was going.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    address: &str,
    user: atiende_domain::user::StaffUser,
    next: String,
) -> Response {
    match open_session(state, headers, address, user, None).await {
        Ok(session) => {
            let target = if session.user.must_change_password {
                "/clave".to_string()
            } else {
                next
            };
            let secure = state.config.secure_cookies();
            let cookies = AppendHeaders([
                (header::SET_COOKIE, session.set_cookie),
                (header::SET_COOKIE, session.device_cookie),
                (
                    header::SET_COOKIE,
                    crate::auth::cookie(CODE_COOKIE, "", "/login", "Strict", 0, secure),
                ),
            ]);
            (cookies, Redirect::to(&target)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

const CODE_COOKIE: &str = "atiende_code";
const CODE_PURPOSE: &str = "second-factor-challenge";

/// Whose password was right, where they were going, until when.
#[derive(serde::Serialize, Deserialize)]
struct CodeChallenge {
    user: i64,
    next: String,
    expires: i64,
}

#[derive(askama::Template)]
#[template(path = "login_code.html")]
struct CodePage {
    t: Tr,
    lang: Lang,
    csrf: String,
    error: Option<String>,
}

fn code_page(lang: Lang, csrf: String, error: Option<String>) -> Response {
    render(&CodePage {
        t: Tr(lang),
        lang,
        csrf,
        error,
    })
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    _csrf: String,
    code: String,
}

/// The second step of a password sign-in: the code from the app, or a recovery code.
async fn login_code(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    let expected = cookie_value_from(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    let key = match state.store.installation_secret("second-factor").await {
        Ok(k) => k,
        Err(e) => return AppError::from(e).into_response(),
    };
    let now = chrono::Utc::now().timestamp();
    let challenge = cookie_value_from(&headers, CODE_COOKIE)
        .and_then(|v| crate::auth::unseal::<CodeChallenge>(&key, CODE_PURPOSE, v))
        .filter(|c| c.expires > now);
    let csrf_ok =
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(form._csrf.as_bytes()));
    let (Some(challenge), true) = (challenge, csrf_ok) else {
        return Redirect::to("/login").into_response();
    };
    let user = match state
        .store
        .user(atiende_domain::ids::UserId(challenge.user))
        .await
    {
        Ok(u) if !u.disabled => u,
        _ => return Redirect::to("/login").into_response(),
    };
    match check_second_factor(&state, &address, &user, &form.code).await {
        Ok(()) => {
            signed_in(
                &state,
                &headers,
                &address,
                user,
                safe_next(Some(&challenge.next)),
            )
            .await
        }
        Err(e) => {
            let message = super::second_factor::code_refusal(&e, lang);
            let mut response = code_page(lang, form._csrf, Some(message));
            *response.status_mut() = e.status();
            response
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

#[derive(askama::Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    t: Tr,
    lang: Lang,
    url: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _posted: Posted<Empty>,
) -> Result<Response, PageError> {
    // A session that came through an identity provider ends there too, where the provider
    // offers it (RP-initiated logout), and comes back to the login page.
    let mut provider_logout = None;
    if let Some(token) = cookie_value_from(&headers, SESSION_COOKIE) {
        let provider = state.store.session_provider(token).await?;
        state.store.end_session(token).await?;
        if let Some(id) = provider.as_deref()
            && let Some(p) = state.sso.get(&state.store, id).await
        {
            let back = format!("{}/login", state.config.base_url.trim_end_matches('/'));
            provider_logout = state.sso.logout_url(&p, &back).await;
        }
    }
    let cookie = session_cookie("", 0, state.config.secure_cookies());
    let Some(url) = provider_logout else {
        return Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response());
    };
    // A page that moves on by itself rather than a redirect: the security policy keeps a
    // form's submission (this one) to this site, redirects included.
    let lang = request_lang_of(&headers);
    let page = SignedOut {
        t: Tr(lang),
        lang,
        url,
    };
    Ok(([(header::SET_COOKIE, cookie)], render(&page)).into_response())
}

/// What a form shows for a refused change: the first field's sentence, or the error's own.
fn first_message(e: &AppError, lang: Lang) -> String {
    let field = match e {
        AppError::Rule(r) => r.fields().first().cloned(),
        _ => None,
    };
    field.map_or_else(
        || error_message(e.code(), &[], None, None, lang),
        |f| crate::i18n::field_message(&f, lang),
    )
}

#[derive(askama::Template)]
#[template(path = "password.html")]
struct PasswordPage {
    ctx: Ctx,
    error: Option<String>,
}

async fn password_page(page: PageUser) -> Response {
    render(&PasswordPage {
        ctx: page.ctx(""),
        error: None,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    posted: Posted<PasswordForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let lang = page.user.language;
    match state
        .store
        .change_own_password(&page.user, &form.current_password, &form.new_password)
        .await
    {
        // Changing the password ends every session: log in again with the new one.
        Ok(()) => Ok(Redirect::to("/login").into_response()),
        Err(e) => {
            let e = AppError::from(e);
            let message = first_message(&e, lang);
            let mut r = render(&PasswordPage {
                ctx: page.ctx(""),
                error: Some(message),
            });
            *r.status_mut() = e.status();
            Ok(r)
        }
    }
}

#[derive(askama::Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    ctx: Ctx,
    saved: bool,
    /// Sessions the other ones just ended, after "cerrar las demás sesiones".
    ended: Option<u64>,
    /// Open sessions: started, last used, this one.
    sessions: Vec<(String, String, bool)>,
    /// API tokens that still work.
    tokens: Vec<TokenRow>,
    /// The scopes a token may be made with: code, label.
    scopes: Vec<(&'static str, &'static str)>,
    /// A token just made: its name and secret, shown in this one answer.
    new_token: Option<(String, String)>,
    /// The token's name was refused.
    error: Option<String>,
    revoked: bool,
}

#[derive(Deserialize)]
struct SavedParam {
    saved: Option<String>,
    cerradas: Option<u64>,
    revocado: Option<String>,
}

async fn preferences_page(
    State(state): State<AppState>,
    page: PageUser,
    headers: HeaderMap,
    Query(p): Query<SavedParam>,
) -> Result<Response, PageError> {
    let user = page.user.id;
    let shown = PreferencesPage {
        ctx: page.ctx(""),
        saved: p.saved.is_some(),
        ended: p.cerradas,
        sessions: Vec::new(),
        tokens: Vec::new(),
        scopes: Vec::new(),
        new_token: None,
        error: None,
        revoked: p.revocado.is_some(),
    };
    preferences(&state, user, &headers, shown).await
}

/// The page with the person's sessions and tokens read fresh.
async fn preferences(
    state: &AppState,
    user: atiende_domain::ids::UserId,
    headers: &HeaderMap,
    mut shown: PreferencesPage,
) -> Result<Response, PageError> {
    let current = cookie_value_from(headers, SESSION_COOKIE);
    let tz = state.store.time_zone();
    let lang = shown.ctx.lang;
    shown.scopes = scope_choices(lang);
    shown.sessions = state
        .store
        .sessions_of(user, current)
        .await?
        .into_iter()
        .map(|s| {
            (
                super::local(&s.started_at, tz),
                super::local(&s.last_seen_at, tz),
                s.current,
            )
        })
        .collect();
    shown.tokens = state
        .store
        .tokens_of(user)
        .await?
        .into_iter()
        .map(|t| TokenRow::of(t, String::new(), crate::i18n::Tr(lang), tz))
        .collect();
    Ok(render(&shown))
}

/// An API token as the preferences and administration pages list it.
pub(super) struct TokenRow {
    pub id: i64,
    /// Its owner's login (administration lists everyone's).
    pub owner: String,
    pub name: String,
    pub scopes: String,
    pub made: String,
    pub expires: String,
    pub used: String,
}

impl TokenRow {
    pub fn of(
        t: atiende_store::users::ApiTokenInfo,
        owner: String,
        tr: crate::i18n::Tr,
        tz: chrono_tz::Tz,
    ) -> TokenRow {
        let never = tr.s("Nunca").to_string();
        TokenRow {
            id: t.id,
            owner,
            name: t.name,
            scopes: t
                .scopes
                .scopes()
                .iter()
                .map(|s| s.label(tr.0))
                .collect::<Vec<_>>()
                .join(", "),
            made: super::local(&t.created_at, tz),
            expires: t
                .expires_at
                .map(|e| super::local(&e, tz))
                .unwrap_or_else(|| never.clone()),
            used: t
                .last_used_at
                .map(|u| super::local(&u, tz))
                .unwrap_or(never),
        }
    }
}

fn scope_choices(lang: atiende_domain::classification::Lang) -> Vec<(&'static str, &'static str)> {
    atiende_domain::access::TokenScope::ALL
        .iter()
        .map(|s| (s.code(), s.label(lang)))
        .collect()
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    scope: Option<String>,
    expires_in_days: Option<String>,
}

/// Makes an API token acting as this person; its secret is shown once, in the body of this
/// answer (never in a URL), and only its hash is kept.
async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<TokenForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let terms = crate::api::session::NewToken {
        name: form.name.clone(),
        scopes: Some(vec![form.scope.clone().unwrap_or_else(|| "read".into())]),
        expires_in_days: match form.expires_in_days.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(days) => Some(days.parse().unwrap_or(0)),
        },
    }
    .terms();
    let made = match terms {
        Ok((scopes, expires)) => state
            .store
            .create_api_token(
                atiende_store::Actor::Staff(&page.user),
                page.user.id,
                &form.name,
                &scopes,
                expires,
            )
            .await
            .map_err(crate::error::AppError::from),
        Err(e) => Err(e),
    };
    let (user, lang) = (page.user.id, page.user.language);
    let mut shown = PreferencesPage {
        ctx: page.ctx(""),
        saved: false,
        ended: None,
        sessions: Vec::new(),
        tokens: Vec::new(),
        scopes: Vec::new(),
        new_token: None,
        error: None,
        revoked: false,
    };
    let status = match made {
        Ok((_, token)) => {
            shown.new_token = Some((form.name.trim().to_string(), token));
            axum::http::StatusCode::OK
        }
        Err(e) => {
            shown.error = Some(first_message(&e, lang));
            e.status()
        }
    };
    let mut response = preferences(&state, user, &headers, shown).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// Revokes one of this person's own tokens.
async fn revoke_token(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    posted: Posted<NothingElse>,
) -> Result<Response, PageError> {
    let user = &posted.page.user;
    let actor = atiende_store::Actor::Staff(user);
    if !state
        .store
        .revoke_api_token(actor, id, Some(user.id))
        .await?
    {
        return Err(AppError::NotFound("token").into());
    }
    Ok(Redirect::to("/preferencias?revocado=1").into_response())
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct NothingElse {}

/// "Cerrar las demás sesiones": every browser signed in as this person but this one.
async fn end_other_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<NothingElse>,
) -> Result<Response, PageError> {
    let user = &posted.page.user;
    let current = cookie_value_from(&headers, SESSION_COOKIE);
    let ended = state
        .store
        .end_sessions(atiende_store::Actor::Staff(user), user.id, current)
        .await?;
    Ok(Redirect::to(&format!("/preferencias?cerradas={ended}")).into_response())
}

#[derive(Deserialize)]
struct PreferencesForm {
    language: String,
}

async fn save_preferences(
    State(state): State<AppState>,
    posted: Posted<PreferencesForm>,
) -> Result<Response, PageError> {
    let lang = Lang::from_code(&posted.form.language).unwrap_or_default();
    state
        .store
        .set_own_language(&posted.page.user, lang)
        .await?;
    Ok(Redirect::to("/preferencias?saved=1").into_response())
}
