//! Contacts: list and search, the person's page with every incident, edit, merge.

use atiende_domain::access::Action;
use atiende_domain::access::Scope;
use atiende_domain::classification::{ProgrammeLine, UserType};
use atiende_domain::contact::{Contact, ContactInput};
use atiende_domain::ids::ContactId;
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use atiende_store::incidents::IncidentFilter;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::queue::{Row, incident_rows};
use super::{Ctx, PageError, PageUser, Posted, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contactos", get(list))
        .route("/contactos/{id}", get(detail).post(update))
        .route("/contactos/{id}/fusionar", post(merge))
}

#[derive(Deserialize, Default)]
struct ListParams {
    q: Option<String>,
    cursor: Option<i64>,
}

#[derive(askama::Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    ctx: Ctx,
    q: String,
    contacts: Vec<Contact>,
    next: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    page.require(Action::ContactRead)?;
    let q = ContactQuery {
        q: p.q.clone(),
        before_id: p.cursor,
        limit: 51,
        ..Default::default()
    };
    let mut contacts = state.store.contacts(&q).await?;
    let next = if contacts.len() > 50 {
        contacts.truncate(50);
        contacts.last().map(|c| c.id.0)
    } else {
        None
    };
    Ok(render(&ContactsPage {
        ctx: page.ctx("contacts"),
        q: p.q.unwrap_or_default(),
        contacts,
        next,
    }))
}

#[derive(askama::Template)]
#[template(path = "contact.html")]
struct ContactPage {
    ctx: Ctx,
    c: Contact,
    incidents: Vec<Row>,
    user_types: Vec<(&'static str, &'static str)>,
    lines: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
    /// Changes to the person's data: who, when, before and after (rectification).
    history: Vec<Rectification>,
}

/// One change to a contact, as the page shows it.
struct Rectification {
    at: String,
    who: String,
    action: String,
    /// (field, before, after) for each field that changed.
    changes: Vec<(String, String, String)>,
}

/// The fields whose values differ between two snapshots (timestamps left out), in the
/// reader's words.
fn changed_fields(
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
    lang: atiende_domain::classification::Lang,
) -> Vec<(String, String, String)> {
    use crate::i18n::{field_label, shown_value};
    let empty = serde_json::Map::new();
    let b = before.and_then(|v| v.as_object()).unwrap_or(&empty);
    let a = after.and_then(|v| v.as_object()).unwrap_or(&empty);
    let show = |k: &str, v: Option<&serde_json::Value>| {
        v.map(|v| shown_value(k, v, lang)).unwrap_or_default()
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !matches!(k.as_str(), "updated_at" | "created_at" | "id"))
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| {
            // A person's notes are notes, not an incident's intervention notes.
            let label = match (k.as_str(), lang) {
                ("notes", atiende_domain::classification::Lang::Es) => "notas".to_string(),
                _ => field_label(k, lang),
            };
            (label, show(k, b.get(k)), show(k, a.get(k)))
        })
        .collect()
}

async fn rectifications(
    state: &AppState,
    id: ContactId,
    lang: atiende_domain::classification::Lang,
) -> Result<Vec<Rectification>, atiende_store::StoreError> {
    let q = atiende_store::audit::AuditQuery {
        entity: Some(atiende_domain::audit::EntityKind::Contact),
        entity_id: Some(id.to_string()),
        limit: 50,
        // Only administrators reach a blocked person's page.
        with_blocked: true,
        ..Default::default()
    };
    let entries = state.store.audit(&q).await?;
    let users = state.store.users().await?;
    let tz = state.store.time_zone();
    Ok(entries
        .iter()
        .map(|e| Rectification {
            at: super::local(&e.at, tz),
            who: e
                .actor_id
                .and_then(|u| users.iter().find(|x| x.id == u))
                .map_or_else(|| "atiende".to_string(), |u| u.name.clone()),
            action: atiende_domain::audit::action_label(&e.action, lang).to_string(),
            changes: changed_fields(e.before.as_ref(), e.after.as_ref(), lang),
        })
        .collect())
}

#[derive(Deserialize, Default)]
struct DetailParams {
    ok: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
    Query(p): Query<DetailParams>,
) -> Result<Response, PageError> {
    page.require(Action::ContactRead)?;
    let notice = p.ok.map(|_| page.ctx_t().s("Guardado.").to_string());
    contact_page(&state, page, ContactId(id), notice, None).await
}

impl PageUser {
    fn ctx_t(&self) -> crate::i18n::Tr {
        crate::i18n::Tr(self.user.language)
    }
}

async fn contact_page(
    state: &AppState,
    page: PageUser,
    id: ContactId,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let c = state.store.contact(id).await?;
    if let Some(target) = c.merged_into {
        return Ok(Redirect::to(&format!("/contactos/{target}")).into_response());
    }
    // A blocked person is out of normal use: only the administrator handling the request sees
    // them. Every look at a person's page is in the access log.
    let admin = page.user.may(Action::PersonalData);
    if c.blocked_at.is_some() && !admin {
        return Err(PageError::from(AppError::Forbidden));
    }
    state
        .store
        .log_personal_access(
            Actor::Staff(&page.user),
            id,
            atiende_domain::privacy::DataAction::View,
            "",
        )
        .await?;
    let filter = IncidentFilter {
        contact_id: Some(id),
        limit: 200,
        ..Default::default()
    };
    let incidents = incident_rows(state, &Scope::All, &filter, lang).await?;
    let history = if page.user.may(Action::AuditRead) {
        rectifications(state, id, lang).await?
    } else {
        vec![]
    };
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let page = ContactPage {
        ctx: page.ctx("contacts"),
        c,
        incidents,
        history,
        user_types: UserType::of_people()
            .map(|t| (t.code(), t.label(lang)))
            .collect(),
        lines: ProgrammeLine::ALL
            .iter()
            .map(|t| (t.code(), t.label(lang)))
            .collect(),
        notice,
        error,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
struct ContactEdit {
    name: Option<String>,
    emails: Option<String>,
    phones: Option<String>,
    whatsapp_id: Option<String>,
    student_code: Option<String>,
    user_type: Option<String>,
    programme_line: Option<String>,
    opt_out_surveys: Option<String>,
    opt_out_marketing: Option<String>,
    notes: Option<String>,
}

fn lines(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or("")
        .split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<ContactEdit>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::ContactWrite)?;
    let input = ContactInput {
        name: form.name.clone(),
        emails: Some(lines(&form.emails)),
        phones: Some(lines(&form.phones)),
        whatsapp_id: Some(form.whatsapp_id.clone().unwrap_or_default()),
        student_code: Some(form.student_code.clone().unwrap_or_default()),
        user_type: non_empty(&form.user_type).and_then(UserType::from_code),
        programme_line: non_empty(&form.programme_line).and_then(ProgrammeLine::from_code),
        opt_out_surveys: Some(form.opt_out_surveys.is_some()),
        opt_out_marketing: Some(form.opt_out_marketing.is_some()),
        notes: form.notes.clone(),
        social_ids: None,
    };
    let user = page.user.clone();
    match state
        .store
        .update_contact(Actor::Staff(&user), ContactId(id), &input)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/contactos/{id}?ok=1")).into_response()),
        Err(e) => {
            let message = describe_error(&AppError::from(e), user.language);
            contact_page(&state, page, ContactId(id), None, Some(message)).await
        }
    }
}

#[derive(Deserialize)]
struct MergeForm {
    other_id: String,
}

async fn merge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<MergeForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::ContactMerge)?;
    let user = page.user.clone();
    let other = form.other_id.trim().parse().map(ContactId);
    let result = match other {
        Ok(other) => state
            .store
            .merge_contacts(Actor::Staff(&user), ContactId(id), other)
            .await
            .map_err(AppError::from),
        Err(_) => Err(AppError::Rule(atiende_domain::RuleError::invalid(
            "contact_id",
            "unknown_contact",
        ))),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/contactos/{id}?ok=1")).into_response()),
        Err(e) => {
            let message = describe_error(&e, user.language);
            contact_page(&state, page, ContactId(id), None, Some(message)).await
        }
    }
}
