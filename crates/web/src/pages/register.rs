//! Registering a phone call or a visit, step by step as the procedure goes: find or create the
//! contact → user type → incident type → topic → critical? → close now, derive, or leave open.

use atiende_domain::access::Action;
use atiende_domain::classification::{Channel, IncidentType, Medium, ProgrammeLine, UserType};
use atiende_domain::contact::{Contact, ContactInput};
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{ContactId, TopicId};
use atiende_domain::incident::{NewIncidentInput, PROMOTION_REASON};
use atiende_domain::unit::{Topic, UnitKind};
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidentes/nuevo", get(start).post(register))
        .route("/incidentes/nuevo/usuario", post(new_contact))
}

#[derive(Deserialize, Default)]
struct StartParams {
    q: Option<String>,
    contact_id: Option<i64>,
    /// A call answered in the console (screen pop): its number finds or fills in the contact.
    llamada: Option<i64>,
}

#[derive(askama::Template)]
#[template(path = "register_contact.html")]
struct FindContact {
    ctx: Ctx,
    q: String,
    results: Vec<Contact>,
    searched: bool,
    error: Option<String>,
    draft: ContactForm,
    call_id: Option<i64>,
}

/// The values of the registration form, kept when it is shown again after an error.
#[derive(Deserialize, Default, Clone)]
pub struct IncidentForm {
    contact_id: i64,
    channel: String,
    user_type: Option<String>,
    incident_type: Option<String>,
    topic_id: Option<String>,
    critical: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    /// `close`, `promotion` (derive to Promoción and close), `derive`, or `open`.
    outcome: String,
    notes: Option<String>,
    /// The call this incident is registered from.
    call_id: Option<i64>,
}

impl IncidentForm {
    pub fn is(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "channel" => Some(self.channel.as_str()),
            "user_type" => self.user_type.as_deref(),
            "incident_type" => self.incident_type.as_deref(),
            "topic_id" => self.topic_id.as_deref(),
            "outcome" => Some(self.outcome.as_str()),
            _ => None,
        };
        v == Some(value)
    }
}

#[derive(askama::Template)]
#[template(path = "register_incident.html")]
struct IncidentStep {
    ctx: Ctx,
    contact: Contact,
    form: IncidentForm,
    topics: Vec<Topic>,
    user_types: Vec<(&'static str, &'static str)>,
    incident_types: Vec<(&'static str, &'static str)>,
    continuing_education: bool,
    errors: Vec<String>,
}

async fn start(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<StartParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentCreate)?;
    let call = match p.llamada {
        Some(id) => Some(state.store.call(id).await?),
        None => None,
    };
    let contact_id = p
        .contact_id
        .or(call.as_ref().and_then(|c| c.contact_id.map(|id| id.0)));
    if let Some(id) = contact_id {
        let contact = state.store.contact(ContactId(id)).await?;
        let continuing = contact.programme_line == Some(ProgrammeLine::ContinuingEducation);
        let form = IncidentForm {
            contact_id: contact.id.0,
            channel: Channel::Phone.code().into(),
            user_type: contact.user_type.map(|t| t.code().to_string()),
            outcome: if continuing {
                "promotion".into()
            } else {
                "close".into()
            },
            call_id: call.as_ref().map(|c| c.id),
            ..Default::default()
        };
        return incident_step(&state, page, contact, form, vec![]).await;
    }
    // An unknown caller: search by their number, and offer it for a new contact.
    let number = call.as_ref().map(|c| c.their_number().to_string());
    let q = p.q.or(number.clone()).unwrap_or_default();
    let results = if q.trim().is_empty() {
        vec![]
    } else {
        let query = ContactQuery {
            q: Some(q.clone()),
            limit: 20,
            ..Default::default()
        };
        state.store.contacts(&query).await?
    };
    let searched = !q.trim().is_empty();
    Ok(render(&FindContact {
        ctx: page.ctx("register"),
        q,
        results,
        searched,
        error: None,
        draft: ContactForm {
            phone: number,
            llamada: call.as_ref().map(|c| c.id),
            ..Default::default()
        },
        call_id: call.as_ref().map(|c| c.id),
    }))
}

async fn incident_step(
    state: &AppState,
    page: PageUser,
    contact: Contact,
    form: IncidentForm,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let topics = state
        .store
        .topics()
        .await?
        .into_iter()
        .filter(|t| t.active)
        .collect();
    let continuing_education = contact.programme_line == Some(ProgrammeLine::ContinuingEducation);
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let step = IncidentStep {
        ctx: page.ctx("register"),
        contact,
        form,
        topics,
        user_types: UserType::of_people()
            .map(|t| (t.code(), t.label(lang)))
            .collect(),
        incident_types: IncidentType::ALL
            .iter()
            .map(|t| (t.code(), t.label(lang)))
            .collect(),
        continuing_education,
        errors,
    };
    Ok((status, render(&step)).into_response())
}

#[derive(Deserialize, Default, Clone)]
pub struct ContactForm {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub student_code: Option<String>,
    pub user_type: Option<String>,
    pub programme_line: Option<String>,
    /// Carried from a screen pop to the incident step.
    pub llamada: Option<i64>,
}

impl ContactForm {
    pub fn input(&self) -> ContactInput {
        ContactInput {
            name: self.name.clone(),
            emails: non_empty(&self.email).map(|e| vec![e.to_string()]),
            phones: non_empty(&self.phone).map(|p| vec![p.to_string()]),
            student_code: non_empty(&self.student_code).map(str::to_string),
            user_type: non_empty(&self.user_type).and_then(UserType::from_code),
            programme_line: non_empty(&self.programme_line).and_then(ProgrammeLine::from_code),
            ..Default::default()
        }
    }

    pub fn value(&self, field: &str) -> &str {
        let v = match field {
            "name" => &self.name,
            "email" => &self.email,
            "phone" => &self.phone,
            "student_code" => &self.student_code,
            "user_type" => &self.user_type,
            "programme_line" => &self.programme_line,
            _ => &None,
        };
        v.as_deref().unwrap_or("")
    }
}

/// Step 1b: the person is not on file yet.
async fn new_contact(
    State(state): State<AppState>,
    posted: Posted<ContactForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::ContactWrite)?;
    let lang = page.user.language;
    match state
        .store
        .create_contact(Actor::Staff(&page.user), &form.input())
        .await
    {
        Ok(c) => {
            let call = form
                .llamada
                .map(|id| format!("&llamada={id}"))
                .unwrap_or_default();
            Ok(
                Redirect::to(&format!("/incidentes/nuevo?contact_id={}{call}", c.id))
                    .into_response(),
            )
        }
        Err(e) => {
            let e = AppError::from(e);
            let message = describe_error(&e, lang);
            let status = e.status();
            let page = FindContact {
                ctx: page.ctx("register"),
                q: String::new(),
                results: vec![],
                searched: false,
                error: Some(message),
                call_id: form.llamada,
                draft: form,
            };
            Ok((status, render(&page)).into_response())
        }
    }
}

/// Step 2: classify and decide. Closing is checked against the procedure before anything is
/// written, so a blocked closing says why and leaves nothing half-done.
async fn register(
    State(state): State<AppState>,
    posted: Posted<IncidentForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::IncidentCreate)?;
    let lang = page.user.language;
    let contact = state.store.contact(ContactId(form.contact_id)).await?;
    let notes = form.notes.clone().unwrap_or_default();
    let input = NewIncidentInput {
        channel: Channel::from_code(&form.channel).unwrap_or(Channel::Phone),
        contact_id: Some(contact.id),
        subject: form.subject.clone().unwrap_or_default(),
        body: form.body.clone().unwrap_or_default(),
        user_type: non_empty(&form.user_type).and_then(UserType::from_code),
        incident_type: non_empty(&form.incident_type).and_then(IncidentType::from_code),
        topic_id: non_empty(&form.topic_id)
            .and_then(|t| t.parse().ok())
            .map(TopicId),
        critical: form.critical.is_some(),
        assigned_to: Some(page.user.id),
        received_at: None,
    };
    if form.outcome == "close"
        && let Err(rule) = input.check_close_at_registration(contact.programme_line, &notes)
    {
        let message = describe_error(&AppError::Rule(rule), lang);
        return incident_step(&state, page, contact, form, vec![message]).await;
    }
    let actor = Actor::Staff(&page.user);
    // Procedure step 2: the user type is set once on the contact and reused later.
    if contact.user_type.is_none() && input.user_type.is_some() {
        let update = ContactInput {
            user_type: input.user_type,
            ..Default::default()
        };
        state
            .store
            .update_contact(actor, contact.id, &update)
            .await?;
    }
    let incident = match state.store.create_incident(actor, input).await {
        Ok(i) => i,
        Err(e) => {
            let message = describe_error(&AppError::from(e), lang);
            return incident_step(&state, page, contact, form, vec![message]).await;
        }
    };
    if let Some(call) = form.call_id {
        state.store.link_call(call, incident.id).await?;
    }
    let view = format!("/incidentes/{}", incident.folio);
    let outcome = match form.outcome.as_str() {
        "close" => state
            .store
            .close_incident(actor, incident.id, Some(&notes))
            .await
            .map(|_| "closed"),
        "promotion" => {
            let units = state.store.units().await?;
            let promotion = units
                .iter()
                .find(|u| u.kind == UnitKind::Promotion && u.active)
                .ok_or(PageError::from(AppError::NotFound("unit")))?;
            let derive = DeriveInput {
                unit_id: promotion.id,
                medium: Medium::Email,
                reason: PROMOTION_REASON.into(),
                user_told: None,
                told_address: None,
                close: true,
                notes: Some(notes.clone()).filter(|n| !n.trim().is_empty()),
            };
            state
                .store
                .derive_incident(actor, incident.id, &derive)
                .await
                .map(|_| "derived_closed")
        }
        "derive" => return Ok(Redirect::to(&format!("{view}?open=derive#derivar")).into_response()),
        _ => Ok("registered"),
    };
    match outcome {
        Ok(code) => Ok(Redirect::to(&format!("{view}?ok={code}")).into_response()),
        // The incident exists; its page says what is missing to finish.
        Err(e) => Ok(
            Redirect::to(&format!("{view}?blocked={}", AppError::from(e).code())).into_response(),
        ),
    }
}
