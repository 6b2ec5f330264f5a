//! Incidents: the queue, registering, and every step of the procedure on one incident.

use atiende_domain::access::{Action, Scope};
use atiende_domain::calendar::parse_bound;
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::Contact;
use atiende_domain::derivation::{Derivation, DeriveInput, UnitAnswer};
use atiende_domain::ids::{ContactId, DerivationId, IncidentId, TopicId, UnitId, UserId};
use atiende_domain::incident::{
    ClassifyInput, EntryKind, Incident, NewIncidentInput, Status, TimelineEntry,
    suggested_unit_kind,
};
use atiende_domain::privacy::DataAction;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::StaffUser;
use atiende_store::Actor;
use atiende_store::incidents::{
    DueCursor, IncidentDetail, IncidentFilter, IncidentSummary, NamedQueue,
};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, MultipartForm, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one))
        .routes(routes!(classify))
        .merge(OpenApiRouter::new().routes(routes!(add_entry)).layer(
            axum::extract::DefaultBodyLimit::max(crate::extract::ENTRY_BODY_LIMIT),
        ))
        .routes(routes!(derive))
        .routes(routes!(answer_derivation))
        .routes(routes!(close))
        .routes(routes!(close_as_duplicate))
        .routes(routes!(reopen))
        .routes(routes!(assign))
        .routes(routes!(wait_on_person))
}

#[derive(Deserialize, ToSchema)]
pub struct WaitInput {
    /// What was asked of the person (optional).
    #[serde(default)]
    pub note: String,
}

/// The incident waits on the person (a document, an answer): its resolution clock stops until
/// the person writes again or the incident moves on. Only an open incident.
#[utoipa::path(post, path = "/incidents/{reference}/waiting-on-person", tag = "incidents", params(("reference" = String, Path)),
    request_body = WaitInput, responses((status = 201, body = TimelineEntry), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn wait_on_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<WaitInput>,
) -> Result<(StatusCode, Json<TimelineEntry>), AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = visible(&state, user, &reference).await?;
    let entry = state
        .store
        .wait_on_person(Actor::Staff(user), id, &input.note)
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    pub topic_id: Option<i64>,
    /// Incidents derived to this unit.
    pub unit_id: Option<i64>,
    /// An agent's id, `me`, or `none` for unassigned.
    pub assigned_to: Option<String>,
    pub contact_id: Option<i64>,
    pub critical: Option<bool>,
    /// A named queue, as in the console: `open`, `mine`, `unassigned`, `waiting` (on a unit),
    /// `leads` (critical incidents waiting for the CAP lead to derive them to top management),
    /// `siga` (the buzón's entries waiting on the quality owner), `closed`, `all`.
    #[param(inline)]
    pub queue: Option<NamedQueue>,
    /// Service level: `breached` (a target overdue) or `warning` (due soon).
    #[param(inline)]
    pub clock: Option<ClockFilter>,
    /// Received on or after this local date (`2026-01-31`) or instant (RFC 3339).
    pub from: Option<String>,
    /// Received on or before this local date, or before this instant.
    pub to: Option<String>,
    /// Words (or their beginnings) in the folio, subject or messages, or in the contact's
    /// name, email, phone or code.
    pub q: Option<String>,
    /// `newest` (the default) or `due`: the earliest due service level first, then those
    /// with no clock running, newest first. With `clock`, always in due order (the most
    /// urgent first); with `q`, always newest first.
    #[param(inline)]
    pub order: Option<ListOrder>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// The order of the incident list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    Newest,
    Due,
}

fn bound(
    raw: Option<&str>,
    tz: chrono_tz::Tz,
    end: bool,
    field: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    raw.map(|r| {
        parse_bound(r, tz, end)
            .ok_or_else(|| atiende_domain::RuleError::invalid(field, "invalid_date").into())
    })
    .transpose()
}

/// Which clocks the queue keeps.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockFilter {
    Breached,
    Warning,
}

impl ClockFilter {
    fn state(self) -> atiende_domain::service_level::ClockState {
        match self {
            ClockFilter::Breached => atiende_domain::service_level::ClockState::Breached,
            ClockFilter::Warning => atiende_domain::service_level::ClockState::Warning,
        }
    }
}

/// The queue: incidents the caller may see, newest first or the earliest due first, with
/// filters.
#[utoipa::path(get, path = "/incidents", tag = "incidents", params(ListParams), responses((status = 200, body = Page<IncidentSummary>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<IncidentSummary>>, AppError> {
    let user = caller.require(Action::IncidentRead)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let tz = state.store.time_zone();
    let (assigned_to, unassigned) = match p.assigned_to.as_deref() {
        None => (None, false),
        Some("me") => (Some(user.id), false),
        Some("none") => (None, true),
        Some(id) => (
            Some(UserId(
                id.parse()
                    .map_err(|_| AppError::BadRequest("assigned_to".into()))?,
            )),
            false,
        ),
    };
    let mut filter = IncidentFilter {
        status: p.status,
        channel: p.channel,
        user_type: p.user_type,
        incident_type: p.incident_type,
        topic_id: p.topic_id.map(TopicId),
        unit_id: p.unit_id.map(UnitId),
        assigned_to,
        unassigned,
        contact_id: p.contact_id.map(ContactId),
        critical: p.critical,
        clock: p.clock.map(ClockFilter::state),
        received_from: bound(p.from.as_deref(), tz, false, "from")?,
        received_to: bound(p.to.as_deref(), tz, true, "to")?,
        q: p.q,
        limit: page.limit() + 1,
        ..Default::default()
    };
    filter.due_first = p.order == Some(ListOrder::Due);
    if filter.in_due_order() {
        filter.after_due = page
            .cursor
            .as_deref()
            .map(|c| DueCursor::decode(c).ok_or_else(|| AppError::BadRequest("cursor".into())))
            .transpose()?;
    } else {
        filter.before_id = page.before_id()?;
    }
    if let Some(queue) = p.queue {
        state.store.apply_queue(&mut filter, queue, user.id).await?;
    }
    let items = state
        .store
        .incidents(&user.incident_scope(), &filter)
        .await?;
    if filter.in_due_order() {
        return Ok(Json(Page::with_cursor(items, page.limit(), |s| {
            DueCursor::after(s).encode()
        })));
    }
    Ok(Json(Page::of(items, page.limit(), |s| s.incident.id.0)))
}

/// Registers an incident (a phone call, a visit, a typed-in buzón entry). The user type is
/// prefilled from the contact's classification.
#[utoipa::path(post, path = "/incidents", tag = "incidents", request_body = NewIncidentInput,
    responses((status = 201, body = Incident), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewIncidentInput>,
) -> Result<(StatusCode, Json<Incident>), AppError> {
    let user = caller.require(Action::IncidentCreate)?;
    let incident = state
        .store
        .create_incident(Actor::Staff(user), input)
        .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

/// Resolves a folio or id to an incident the caller may see. Out of scope looks like absent,
/// so a unit responsible cannot probe which folios exist.
pub(super) async fn visible(
    state: &AppState,
    user: &StaffUser,
    reference: &str,
) -> Result<IncidentId, AppError> {
    let id = state.store.incident_id(reference).await?;
    let scope = user.incident_scope();
    if scope != Scope::All && !state.store.incident_visible(&scope, id).await? {
        return Err(AppError::NotFound("incident"));
    }
    Ok(id)
}

#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    #[serde(flatten)]
    pub detail: IncidentDetail,
    /// Left out when the person's data is blocked (cancellation), except for whoever handles
    /// personal-data requests; `contact_blocked` says so.
    pub contact: Option<Contact>,
    pub contact_blocked: bool,
    /// The unit the procedure suggests deriving to (Promoción for continuing education).
    pub suggested_unit_kind: Option<UnitKind>,
    /// The folio of the incident this one was closed as a duplicate of, or merged into.
    pub duplicate_of: Option<String>,
    /// The same person's incidents merged into this one, each with its own timeline.
    pub merged: Vec<atiende_store::incidents::duplicates::Merged>,
}

/// One incident with its contact, derivations and timeline. `reference` is a folio
/// (`CAP-2026-000123`) or an id.
#[utoipa::path(get, path = "/incidents/{reference}", tag = "incidents", params(("reference" = String, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Json<IncidentView>, AppError> {
    let user = caller.require(Action::IncidentRead)?;
    let id = visible(&state, user, &reference).await?;
    Ok(Json(view(&state, user, id).await?))
}

async fn view(
    state: &AppState,
    user: &StaffUser,
    id: IncidentId,
) -> Result<IncidentView, AppError> {
    let detail = state
        .store
        .incident_detail(id, state.config.reopen_window_days)
        .await?;
    let contact = match detail.incident.contact_id {
        Some(c) => Some(state.store.contact(c).await?),
        None => None,
    };
    let suggested_unit_kind = suggested_unit_kind(contact.as_ref().and_then(|c| c.programme_line));
    let contact_blocked = contact.as_ref().is_some_and(|c| c.blocked_at.is_some());
    let contact = contact.filter(|_| !contact_blocked || user.may(Action::PersonalData));
    if let Some(c) = &contact {
        // Every read of a person's data is in the access log, through the API as in the console.
        state
            .store
            .log_personal_access(
                Actor::Staff(user),
                c.id,
                DataAction::View,
                &detail.incident.folio.to_string(),
            )
            .await?;
    }
    let duplicate_of = state
        .store
        .duplicate_of(id)
        .await?
        .map(|(folio, _)| folio.to_string());
    Ok(IncidentView {
        detail,
        contact,
        contact_blocked,
        suggested_unit_kind,
        duplicate_of,
        merged: state.store.merged_into(id).await?,
    })
}

/// Sets channel, user type, incident type, topic and the critical flag (fields left out stay).
#[utoipa::path(post, path = "/incidents/{reference}/classify", tag = "incidents", params(("reference" = String, Path)),
    request_body = ClassifyInput, responses((status = 200, body = Incident), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn classify(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<ClassifyInput>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = visible(&state, user, &reference).await?;
    Ok(Json(
        state
            .store
            .classify_incident(Actor::Staff(user), id, &input)
            .await?,
    ))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryInputKind {
    /// Internal note, never shown to the user.
    Note,
    /// Pormenores de la intervención: what was done (required before closing).
    Intervention,
    /// An answer given to the user, sent on the incident's channel (email, WhatsApp, Messenger,
    /// Instagram); other channels only record it.
    Answer,
}

#[derive(Deserialize, ToSchema)]
pub struct EntryInput {
    pub kind: EntryInputKind,
    #[serde(default)]
    pub body: String,
    /// For an answer on WhatsApp: the name of an approved template (configured in `[meta]`),
    /// the only message allowed 24 hours after the person's last one; `body` is then ignored.
    #[serde(default)]
    pub template: Option<String>,
    /// The canned response the text was written from (see
    /// `/incidents/{reference}/canned-responses/{id}`): its use is counted.
    #[serde(default)]
    pub canned_response_id: Option<i64>,
}

/// An entry with files, as a multipart form: the same fields as `EntryInput`, and the files.
#[derive(ToSchema)]
#[allow(dead_code)] // Read field by field by `EntryBody`; here for the document.
pub struct EntryUpload {
    /// `note` or `answer` (intervention notes take no files).
    kind: EntryInputKind,
    /// May be empty when files are sent.
    body: Option<String>,
    /// The canned response the text was written from: its use is counted.
    canned_response_id: Option<i64>,
    /// Up to 5 files, 10 MB each and 15 MB together: PDF, JPEG, PNG, Word, Excel, PowerPoint,
    /// OpenDocument, text, CSV, MP3, OGG, MP4. The content must match the name's extension.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

/// An entry as JSON, or as a multipart form when it carries files.
pub struct EntryBody {
    input: EntryInput,
    files: Vec<atiende_store::attachments::Upload>,
}

impl axum::extract::FromRequest<AppState> for EntryBody {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, AppError> {
        if !MultipartForm::is_multipart(req.headers()) {
            let Json(input) = Json::from_request(req, state).await?;
            return Ok(EntryBody {
                input,
                files: Vec::new(),
            });
        }
        let form = MultipartForm::from_request(req, state).await?;
        // The text fields read as the JSON body would be, so that a wrong one is named alike.
        let fields: serde_json::Map<String, serde_json::Value> = form
            .fields
            .iter()
            .filter(|(name, _)| name != "files")
            .map(|(name, value)| {
                let value = match value.trim().parse::<i64>() {
                    // A form's fields are all text: the one number among them is a number.
                    Ok(n) if name == "canned_response_id" => serde_json::json!(n),
                    _ => serde_json::Value::String(value.clone()),
                };
                (name.clone(), value)
            })
            .collect();
        let input = crate::extract::parse_json(&serde_json::to_vec(&fields).unwrap_or_default())?;
        Ok(EntryBody {
            input,
            files: form.files,
        })
    }
}

/// Adds a note, intervention notes or an answer to the timeline. With files, send a multipart
/// form: the files are kept on the entry and, on an answer, sent with it (email attachments;
/// one WhatsApp, Messenger or Instagram message each, uploaded through the Graph API).
#[utoipa::path(post, path = "/incidents/{reference}/notes", tag = "incidents", params(("reference" = String, Path)),
    request_body(content((EntryInput = "application/json"), (EntryUpload = "multipart/form-data"))),
    responses((status = 201, body = TimelineEntry), (status = 413, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn add_entry(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    EntryBody { input, files }: EntryBody,
) -> Result<(StatusCode, Json<TimelineEntry>), AppError> {
    let (action, kind) = match input.kind {
        EntryInputKind::Note => (Action::IncidentNote, EntryKind::Note),
        EntryInputKind::Intervention => (Action::IncidentWork, EntryKind::Intervention),
        EntryInputKind::Answer => (Action::IncidentWork, EntryKind::OutboundMessage),
    };
    let user = caller.require(action)?;
    let id = visible(&state, user, &reference).await?;
    let entry = match (&input.template, kind) {
        (Some(name), EntryKind::OutboundMessage) => {
            let template = state.config.meta.template(name).ok_or_else(|| {
                AppError::Rule(atiende_domain::RuleError::invalid(
                    "template",
                    "unknown_template",
                ))
            })?;
            state
                .store
                .answer_with_template(Actor::Staff(user), id, template)
                .await?
        }
        _ => match input.canned_response_id {
            Some(canned) => {
                state
                    .store
                    .add_entry_from_canned(
                        Actor::Staff(user),
                        id,
                        kind,
                        &input.body,
                        &files,
                        canned,
                    )
                    .await?
            }
            None => {
                state
                    .store
                    .add_entry_with_files(Actor::Staff(user), id, kind, &input.body, &files)
                    .await?
            }
        },
    };
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Serialize, ToSchema)]
pub struct DeriveResult {
    pub incident: Incident,
    pub derivation: Derivation,
}

/// Derives to a unit by phone or email, optionally closing in the same step. Only the CAP lead
/// derives to top management.
#[utoipa::path(post, path = "/incidents/{reference}/derivations", tag = "incidents", params(("reference" = String, Path)),
    request_body = DeriveInput, responses((status = 201, body = DeriveResult), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn derive(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<DeriveInput>,
) -> Result<(StatusCode, Json<DeriveResult>), AppError> {
    let user = caller.require(Action::IncidentDerive)?;
    let id = visible(&state, user, &reference).await?;
    let (incident, derivation) = state
        .store
        .derive_incident(Actor::Staff(user), id, &input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(DeriveResult {
            incident,
            derivation,
        }),
    ))
}

/// The unit's answer to a derivation, given by whoever answers for that unit. It returns the
/// incident to the CAP; with `close`, the quality owner closes a buzón suggestion or compliment
/// routed to them (the answer is its treatment).
#[utoipa::path(post, path = "/incidents/{reference}/derivations/{derivation_id}/answer", tag = "incidents",
    params(("reference" = String, Path), ("derivation_id" = i64, Path)), request_body = UnitAnswer,
    responses((status = 200, body = DeriveResult), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn answer_derivation(
    State(state): State<AppState>,
    caller: Caller,
    Path((reference, derivation_id)): Path<(String, i64)>,
    Json(input): Json<UnitAnswer>,
) -> Result<Json<DeriveResult>, AppError> {
    let user = caller.require(Action::DerivationAnswer)?;
    let id = visible(&state, user, &reference).await?;
    let (incident, derivation) = state
        .store
        .answer_derivation(Actor::Staff(user), id, DerivationId(derivation_id), &input)
        .await?;
    Ok(Json(DeriveResult {
        incident,
        derivation,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct CloseInput {
    /// Intervention notes, recorded in the same step (required unless already recorded).
    pub notes: Option<String>,
}

/// Closes the incident. Refused, naming what is missing, without channel, user type, incident
/// type and intervention notes. Writes the survey-due entry.
#[utoipa::path(post, path = "/incidents/{reference}/close", tag = "incidents", params(("reference" = String, Path)),
    request_body = CloseInput, responses((status = 200, body = Incident), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<CloseInput>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = visible(&state, user, &reference).await?;
    Ok(Json(
        state
            .store
            .close_incident(Actor::Staff(user), id, input.notes.as_deref())
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateInput {
    /// The folio (or id) of the incident this one duplicates.
    pub original: String,
    /// The same person's incident: merge it, so that its timeline is shown with the original's.
    #[serde(default)]
    pub merge: bool,
}

/// Closes the incident as a duplicate of another, or merges it into the other (`merge`: the
/// same person's only). No survey is sent for it; what it lacks of the classification is taken
/// from the original. Refused while it waits on a unit, or when the original is itself a
/// duplicate. Reopening it undoes the link.
#[utoipa::path(post, path = "/incidents/{reference}/duplicate", tag = "incidents", params(("reference" = String, Path)),
    request_body = DuplicateInput, responses((status = 200, body = Incident), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn close_as_duplicate(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<DuplicateInput>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = visible(&state, user, &reference).await?;
    let original = visible(&state, user, &input.original).await.map_err(|_| {
        AppError::from(atiende_domain::RuleError::invalid(
            "original",
            "unknown_incident",
        ))
    })?;
    Ok(Json(
        state
            .store
            .close_as_duplicate(Actor::Staff(user), id, original, input.merge)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReopenInput {
    #[serde(default)]
    pub reason: String,
}

/// Reopens a closed incident; the reopening is recorded in the timeline and the audit trail.
#[utoipa::path(post, path = "/incidents/{reference}/reopen", tag = "incidents", params(("reference" = String, Path)),
    request_body = ReopenInput, responses((status = 200, body = Incident)))]
async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<ReopenInput>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = visible(&state, user, &reference).await?;
    Ok(Json(
        state
            .store
            .reopen_incident(Actor::Staff(user), id, &input.reason)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct AssignInput {
    /// The agent; absent or null unassigns.
    pub user_id: Option<UserId>,
}

/// Assigns the incident. Agents take or release it for themselves; leads assign anyone.
#[utoipa::path(post, path = "/incidents/{reference}/assign", tag = "incidents", params(("reference" = String, Path)),
    request_body = AssignInput, responses((status = 200, body = Incident)))]
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<AssignInput>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentAssign)?;
    if !user.may_assign_to(input.user_id) {
        return Err(AppError::Forbidden);
    }
    let id = visible(&state, user, &reference).await?;
    Ok(Json(
        state
            .store
            .assign_incident(Actor::Staff(user), id, input.user_id)
            .await?,
    ))
}
