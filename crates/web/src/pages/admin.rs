//! Administration: staff accounts and roles, units, the topic catalogue, sign-in (identity
//! providers, passwords refused), mailboxes, settings.

use atiende_domain::access::Action;
use atiende_domain::classification::Lang;
use atiende_domain::ids::{TopicId, UnitId, UserId};
use atiende_domain::mail_auth::{MailAuth, OAuthApp};
use atiende_domain::secret::Secret;
use atiende_domain::sign_in::IdentityProvider;
use atiende_domain::unit::{Topic, Unit, UnitInput, UnitKind};
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/usuarios", post(create_user))
        .route("/admin/usuarios/{id}", post(update_user))
        .route("/admin/unidades", post(create_unit))
        .route("/admin/unidades/{id}", post(update_unit))
        .route("/admin/temas", post(create_topic))
        .route("/admin/buzones", post(save_mailbox))
        .route("/admin/tokens/{id}/revocar", post(revoke_token))
        .route("/admin/acceso", post(save_sign_in))
        .route("/admin/acceso/proveedores", post(save_provider))
        .route(
            "/admin/acceso/proveedores/{id}/quitar",
            post(delete_provider),
        )
        .route("/admin/temas/{id}", post(update_topic))
        .merge(super::admin_webhooks::router())
}

#[derive(askama::Template)]
#[template(path = "admin.html")]
struct AdminPage {
    ctx: Ctx,
    users: Vec<StaffUser>,
    units: Vec<Unit>,
    topics: Vec<Topic>,
    mailboxes: Vec<atiende_store::email::Mailbox>,
    /// The outside services atiende has used, failing ones first.
    services: Vec<ServiceRow>,
    roles: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    settings: Vec<(&'static str, String)>,
    notice: Option<String>,
    error: Option<String>,
    /// Messages kept for an account not configured here: network, account, how many, since.
    held: Vec<(&'static str, String, i64, String)>,
    /// How staff sign in; the identity providers of the configuration file (shown) and those
    /// added here (edited here).
    sign_in: atiende_domain::sign_in::SignInPolicy,
    configured_providers: Vec<IdentityProvider>,
    added_providers: Vec<IdentityProvider>,
    /// Roles a provider may give (never administrator).
    provider_roles: Vec<(&'static str, &'static str)>,
    /// Where a provider sends people back (shown to register it there).
    base_url: String,
    /// Where a mail provider sends an administrator back after consenting for a mailbox.
    mailbox_redirect: String,
    /// Mail providers whose addresses are known: code, name.
    mail_presets: Vec<(&'static str, &'static str)>,
    /// Every API token that still works, with its owner.
    tokens: Vec<super::login::TokenRow>,
    webhooks: Vec<super::admin_webhooks::WebhookRow>,
    /// Event types: code and label.
    webhook_events: Vec<(&'static str, &'static str)>,
}

/// An outside service's health, in the reader's language and time zone.
struct ServiceRow {
    name: String,
    kind: &'static str,
    working: bool,
    ok_at: String,
    failing_since: String,
    failures: i64,
    last_error: String,
}

impl ServiceRow {
    fn of(
        s: atiende_store::external_services::ExternalServiceHealth,
        lang: atiende_domain::classification::Lang,
        tz: chrono_tz::Tz,
    ) -> ServiceRow {
        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|t| super::local(&t, tz)).unwrap_or_default()
        };
        ServiceRow {
            working: s.working(),
            name: s.name,
            kind: s.kind.label(lang),
            ok_at: when(s.ok_at),
            failing_since: when(s.failing_since),
            failures: s.failures,
            last_error: s.last_error.unwrap_or_default(),
        }
    }
}

impl AdminPage {
    /// Whether the service turned an endpoint off for failing: the page says so at the top of
    /// its section.
    fn webhooks_turned_off(&self) -> bool {
        self.webhooks.iter().any(|w| w.turned_off_by_failures)
    }

    fn group_roles_text(&self, p: &IdentityProvider) -> String {
        p.accounts
            .group_roles
            .iter()
            .map(|(g, r)| format!("{g} = {}", r.code()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn group_units_text(&self, p: &IdentityProvider) -> String {
        p.accounts
            .group_units
            .iter()
            .map(|(g, u)| format!("{g} = {}", u.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn default_role_code(&self, p: &IdentityProvider) -> &'static str {
        p.accounts.default_role.unwrap_or(Role::Agent).code()
    }
}

impl AdminPage {
    fn has_unit(&self, user: &StaffUser, unit: &Unit) -> bool {
        user.unit_ids.contains(&unit.id)
    }

    fn unit_name(&self, id: &UnitId) -> String {
        self.units
            .iter()
            .find(|u| u.id == *id)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
struct AdminParams {
    ok: Option<String>,
}

async fn admin(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<AdminParams>,
) -> Result<Response, PageError> {
    page.require(Action::UserWrite)?;
    let t = crate::i18n::Tr(page.user.language);
    let notice = p.ok.map(|_| t.s("Guardado.").to_string());
    admin_page(&state, page, notice, None).await
}

/// A one-time password is shown once, in the body of the answer to the POST that made it:
/// never in a URL (browser history, proxy and access logs). `render` marks the page no-store.
async fn show_one_time_password(
    state: &AppState,
    page: PageUser,
    login: &str,
    password: &str,
) -> Result<Response, PageError> {
    let t = crate::i18n::Tr(page.user.language);
    let notice = format!(
        "{} {login}: {password}",
        t.s("Contraseña de un solo uso para")
    );
    admin_page(state, page, Some(notice), None).await
}

pub(super) async fn admin_page(
    state: &AppState,
    page: PageUser,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let settings = vec![
        ("URL", state.config.base_url.clone()),
        ("Zona horaria", state.store.time_zone().to_string()),
        (
            "Duración de la sesión (horas)",
            state.config.session_hours.to_string(),
        ),
        (
            "Días para contar una reapertura",
            state.config.reopen_window_days.to_string(),
        ),
        (
            "Intentos de acceso por minuto",
            state.config.login_attempts_per_minute.to_string(),
        ),
    ];
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let page = AdminPage {
        users: state.store.users().await?,
        units: state.store.units().await?,
        topics: state.store.topics().await?,
        mailboxes: state.store.mailboxes().await?,
        services: state
            .store
            .external_services()
            .await?
            .into_iter()
            .map(|s| ServiceRow::of(s, lang, state.store.time_zone()))
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| (r.code(), r.label(lang)))
            .collect(),
        kinds: UnitKind::ALL
            .iter()
            .map(|k| (k.code(), k.label(lang)))
            .collect(),
        settings,
        notice,
        error,
        sign_in: state
            .store
            .setting(atiende_store::settings::key::SIGN_IN_POLICY)
            .await?,
        configured_providers: state.sso.configured().to_vec(),
        added_providers: state.store.identity_providers().await?,
        base_url: state.config.base_url.trim_end_matches('/').to_string(),
        mailbox_redirect: super::mailbox_consent::redirect_uri(state),
        tokens: state
            .store
            .active_tokens()
            .await?
            .into_iter()
            .map(|(owner, t)| {
                super::login::TokenRow::of(t, owner, crate::i18n::Tr(lang), state.store.time_zone())
            })
            .collect(),
        webhooks: super::admin_webhooks::rows(state, lang).await?,
        webhook_events: atiende_domain::webhook::EventType::ALL
            .iter()
            .map(|e| (e.code(), e.label(lang)))
            .collect(),
        mail_presets: atiende_domain::mail_auth::PRESETS
            .iter()
            .map(|p| (p.code, p.label))
            .collect(),
        provider_roles: Role::ALL
            .iter()
            .filter(|r| **r != Role::Admin)
            .map(|r| (r.code(), r.label(lang)))
            .collect(),
        held: state
            .store
            .held_chats()
            .await?
            .into_iter()
            .map(|h| {
                let since = super::local(&h.since, state.store.time_zone());
                (h.provider.label(lang), h.account_id, h.messages, since)
            })
            .collect(),
        ctx: page.ctx("admin"),
    };
    Ok((status, render(&page)).into_response())
}

/// Back to the administration page at `anchor`, or the page again with the reason it failed.
pub(super) async fn done<T>(
    state: &AppState,
    page: PageUser,
    result: Result<T, atiende_store::StoreError>,
    anchor: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin?ok=1#{anchor}")).into_response()),
        Err(e) => failed(state, page, e).await,
    }
}

pub(super) async fn failed(
    state: &AppState,
    page: PageUser,
    e: impl Into<AppError>,
) -> Result<Response, PageError> {
    let message = describe_error(&e.into(), page.user.language);
    admin_page(state, page, None, Some(message)).await
}

#[derive(Deserialize)]
struct UserForm {
    login: Option<String>,
    name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    unit_id: Option<String>,
    language: Option<String>,
    disabled: Option<String>,
    reset_password: Option<String>,
    /// End every session of the account (a lost laptop, a shared computer).
    end_sessions: Option<String>,
    /// The person lost the phone with their authenticator app: they enrol again.
    remove_second_factor: Option<String>,
    phone_extension: Option<String>,
}

impl UserForm {
    fn input(&self, creating: bool) -> UserInput {
        UserInput {
            login: if creating { self.login.clone() } else { None },
            name: self.name.clone(),
            email: self.email.clone(),
            role: non_empty(&self.role).and_then(Role::from_code),
            unit_ids: Some(
                non_empty(&self.unit_id)
                    .and_then(|u| u.parse().ok())
                    .map(UnitId)
                    .into_iter()
                    .collect(),
            ),
            language: non_empty(&self.language).and_then(Lang::from_code),
            disabled: if creating {
                None
            } else {
                Some(self.disabled.is_some())
            },
            phone_extension: self.phone_extension.clone(),
            password: None,
        }
    }
}

async fn create_user(
    State(state): State<AppState>,
    posted: Posted<UserForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UserWrite)?;
    let admin = page.user.clone();
    match state
        .store
        .create_user(Actor::Staff(&admin), &form.input(true))
        .await
    {
        Ok(created) => {
            let pw = created.generated_password.unwrap_or_default();
            show_one_time_password(&state, page, &created.user.login, &pw).await
        }
        Err(e) => failed(&state, page, e).await,
    }
}

async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<UserForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UserWrite)?;
    let admin = page.user.clone();
    let mut input = form.input(false);
    let reset = form.reset_password.is_some();
    let password = atiende_store::users::generate_password();
    if reset {
        input.password = Some(password.clone());
    }
    let updated = state
        .store
        .update_user(Actor::Staff(&admin), UserId(id), &input)
        .await;
    if updated.is_ok() && form.end_sessions.is_some() {
        state
            .store
            .end_sessions(Actor::Staff(&admin), UserId(id), None)
            .await?;
    }
    if updated.is_ok() && form.remove_second_factor.is_some() {
        state
            .store
            .remove_second_factor(Actor::Staff(&admin), UserId(id))
            .await?;
    }
    match updated {
        Ok(user) if reset => show_one_time_password(&state, page, &user.login, &password).await,
        Ok(_) => Ok(Redirect::to("/admin?ok=1").into_response()),
        Err(e) => failed(&state, page, e).await,
    }
}

#[derive(Deserialize)]
struct UnitForm {
    name: Option<String>,
    kind: Option<String>,
    responsible_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    active: Option<String>,
}

impl UnitForm {
    fn input(&self, creating: bool) -> UnitInput {
        UnitInput {
            name: self.name.clone(),
            kind: non_empty(&self.kind).and_then(UnitKind::from_code),
            responsible_name: self.responsible_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            active: if creating {
                None
            } else {
                Some(self.active.is_some())
            },
        }
    }
}

async fn create_unit(
    State(state): State<AppState>,
    posted: Posted<UnitForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UnitWrite)?;
    let admin = page.user.clone();
    let result = state
        .store
        .create_unit(Actor::Staff(&admin), &form.input(true))
        .await;
    done(&state, page, result, "unidades").await
}

async fn update_unit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<UnitForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UnitWrite)?;
    let admin = page.user.clone();
    let result = state
        .store
        .update_unit(Actor::Staff(&admin), UnitId(id), &form.input(false))
        .await;
    done(&state, page, result, "unidades").await
}

#[derive(Deserialize)]
struct TopicForm {
    name: Option<String>,
    active: Option<String>,
}

async fn create_topic(
    State(state): State<AppState>,
    posted: Posted<TopicForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::TopicWrite)?;
    let admin = page.user.clone();
    let result = state
        .store
        .save_topic(Actor::Staff(&admin), None, form.name.as_deref(), Some(true))
        .await;
    done(&state, page, result, "temas").await
}

async fn update_topic(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<TopicForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::TopicWrite)?;
    let admin = page.user.clone();
    let result = state
        .store
        .save_topic(
            Actor::Staff(&admin),
            Some(TopicId(id)),
            form.name.as_deref(),
            Some(form.active.is_some()),
        )
        .await;
    done(&state, page, result, "temas").await
}

#[derive(Deserialize)]
struct MailboxForm {
    name: String,
    address: String,
    channel: Option<String>,
    imap_host: Option<String>,
    imap_port: Option<i64>,
    imap_security: Option<String>,
    imap_user: Option<String>,
    imap_password: Option<String>,
    imap_folder: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<i64>,
    smtp_security: Option<String>,
    smtp_user: Option<String>,
    smtp_password: Option<String>,
    auth: Option<String>,
    oauth_preset: Option<String>,
    oauth_authorization_url: Option<String>,
    oauth_token_url: Option<String>,
    oauth_client_id: Option<String>,
    oauth_client_secret: Option<String>,
    oauth_scopes: Option<String>,
    acknowledge: Option<String>,
    active: Option<String>,
}

#[derive(Deserialize)]
struct SignInForm {
    sso_required: Option<String>,
    break_glass_login: String,
}

/// Whether passwords are refused (but the break-glass account's).
async fn save_sign_in(
    State(state): State<AppState>,
    posted: Posted<SignInForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UserWrite)?;
    let policy = atiende_domain::sign_in::SignInPolicy {
        sso_required: form.sso_required.is_some(),
        break_glass_login: form.break_glass_login,
    };
    if let Err(refused) = state.sso.check_policy(&state.store, &policy).await {
        return failed(&state, page, refused).await;
    }
    let admin = page.user.clone();
    let result = state
        .store
        .save_sign_in_policy(Actor::Staff(&admin), &policy)
        .await;
    done(&state, page, result, "acceso").await
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct ProviderForm {
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    groups_claim: String,
    create_accounts: Option<String>,
    default_role: Option<String>,
    /// One `group = role` a line.
    #[serde(default)]
    group_roles: String,
    /// One `group = Unit, Unit` a line.
    #[serde(default)]
    group_units: String,
}

/// `key = value` lines, blank and malformed ones left out.
fn pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once('=')?;
        let (k, v) = (k.trim(), v.trim());
        (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
    })
}

/// Adds an identity provider or changes the one with its id (a blank secret keeps the one on
/// record). The configuration file's providers are changed there.
async fn save_provider(
    State(state): State<AppState>,
    posted: Posted<ProviderForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UserWrite)?;
    let id = form.id.trim().to_lowercase();
    if state.sso.configured().iter().any(|p| p.id == id) {
        let refused = atiende_domain::RuleError::invalid("id", "taken");
        return failed(&state, page, AppError::Rule(refused)).await;
    }
    let mut group_roles = std::collections::BTreeMap::new();
    for (group, role) in pairs(&form.group_roles) {
        match Role::from_code(&role) {
            Some(r) => group_roles.insert(group, r),
            None => {
                let refused = atiende_domain::RuleError::invalid("role", "invalid");
                return failed(&state, page, AppError::Rule(refused)).await;
            }
        };
    }
    let provider = IdentityProvider {
        id,
        name: form.name.trim().to_string(),
        issuer: form.issuer.trim().to_string(),
        client_id: form.client_id.trim().to_string(),
        client_secret: Secret::new(form.client_secret.trim()),
        scopes: form.scopes.split_whitespace().map(str::to_string).collect(),
        groups_claim: form.groups_claim.trim().to_string(),
        accounts: atiende_domain::sign_in::AccountRules {
            create_accounts: form.create_accounts.is_some(),
            default_role: non_empty(&form.default_role).and_then(Role::from_code),
            group_roles,
            group_units: pairs(&form.group_units)
                .map(|(g, units)| {
                    let names = units.split(',').map(|u| u.trim().to_string()).collect();
                    (g, names)
                })
                .collect(),
        },
    };
    let admin = page.user.clone();
    let result = state
        .store
        .save_identity_provider(Actor::Staff(&admin), &provider)
        .await;
    done(&state, page, result, "acceso").await
}

async fn delete_provider(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let Posted { page, .. } = posted;
    page.require(Action::UserWrite)?;
    let admin = page.user.clone();
    let result = state
        .store
        .delete_identity_provider(Actor::Staff(&admin), &id)
        .await;
    done(&state, page, result, "acceso").await
}

/// Revokes anyone's API token (a leaked one, a former integration's).
async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let Posted { page, .. } = posted;
    page.require(Action::UserWrite)?;
    let revoked = state
        .store
        .revoke_api_token(Actor::Staff(&page.user), id, None)
        .await?;
    if !revoked {
        return Err(AppError::NotFound("token").into());
    }
    Ok(Redirect::to("/admin?ok=1#tokens").into_response())
}

/// Adds a mailbox or updates the one with that name; an empty password keeps the stored one.
async fn save_mailbox(
    State(state): State<AppState>,
    posted: Posted<MailboxForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::UnitWrite)?;
    let existing = state
        .store
        .mailboxes()
        .await?
        .into_iter()
        .find(|m| m.name == form.name.trim());
    let secret = |v: &Option<String>| Secret::new(non_empty(v).unwrap_or_default());
    let settings = atiende_store::email::MailboxSettings {
        name: form.name.trim().to_string(),
        address: form.address.clone(),
        channel: non_empty(&form.channel)
            .and_then(atiende_domain::classification::Channel::from_code)
            .unwrap_or(atiende_domain::classification::Channel::Email),
        imap_host: form.imap_host.clone().unwrap_or_default(),
        imap_port: form.imap_port.unwrap_or(993),
        imap_security: form.imap_security.clone().unwrap_or_else(|| "tls".into()),
        imap_user: form.imap_user.clone().unwrap_or_default(),
        imap_password: secret(&form.imap_password),
        imap_folder: non_empty(&form.imap_folder).unwrap_or("INBOX").to_string(),
        smtp_host: form.smtp_host.clone().unwrap_or_default(),
        smtp_port: form.smtp_port.unwrap_or(587),
        smtp_security: form
            .smtp_security
            .clone()
            .unwrap_or_else(|| "starttls".into()),
        smtp_user: form.smtp_user.clone().unwrap_or_default(),
        smtp_password: secret(&form.smtp_password),
        auth: non_empty(&form.auth)
            .and_then(MailAuth::from_code)
            .unwrap_or_default(),
        oauth: OAuthApp {
            preset: non_empty(&form.oauth_preset).unwrap_or("").to_string(),
            authorization_url: form.oauth_authorization_url.clone().unwrap_or_default(),
            token_url: form.oauth_token_url.clone().unwrap_or_default(),
            client_id: form.oauth_client_id.clone().unwrap_or_default(),
            scopes: form.oauth_scopes.clone().unwrap_or_default(),
        },
        oauth_client_secret: secret(&form.oauth_client_secret),
        acknowledge: form.acknowledge.is_some(),
        active: form.active.is_some(),
    }
    .keeping_secrets_of(existing.as_ref());
    let admin = page.user.clone();
    let result = state
        .store
        .save_mailbox(Actor::Staff(&admin), &settings)
        .await;
    done(&state, page, result, "buzones").await
}
