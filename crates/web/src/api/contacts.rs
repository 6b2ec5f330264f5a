//! Contacts: list and search, lookup by identifier, create, edit, merge.

use atiende_domain::access::Action;
use atiende_domain::classification::UserType;
use atiende_domain::contact::{Contact, ContactInput, Identifier, IdentifierKind};
use atiende_domain::ids::ContactId;
use atiende_domain::privacy::DataAction;
use atiende_domain::user::StaffUser;
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(lookup))
        .routes(routes!(get_one, update))
        .routes(routes!(merge))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Text in the name or any identifier (email, phone, student code…).
    pub q: Option<String>,
    pub user_type: Option<UserType>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// Contacts, newest first.
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ListParams), responses((status = 200, body = Page<Contact>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<Contact>>, AppError> {
    caller.require(Action::ContactRead)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let limit = page.limit();
    let q = ContactQuery {
        q: p.q,
        user_type: p.user_type,
        before_id: page.before_id()?,
        limit: limit + 1,
        cancelled: false,
    };
    let items = state.store.contacts(&q).await?;
    Ok(Json(Page::of(items, limit, |c| c.id.0)))
}

/// Creates a contact. An email, phone or WhatsApp id of another contact is a 409 that names it.
#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 409, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<ContactInput>,
) -> Result<(StatusCode, Json<Contact>), AppError> {
    let user = caller.require(Action::ContactWrite)?;
    let contact = state
        .store
        .create_contact(Actor::Staff(user), &input)
        .await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[derive(Deserialize, IntoParams)]
pub struct LookupParams {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub whatsapp: Option<String>,
    pub student_code: Option<String>,
    pub facebook: Option<String>,
    pub instagram: Option<String>,
}

/// Finds the contact an identifier belongs to (exactly one identifier per call).
#[utoipa::path(get, path = "/contacts/lookup", tag = "contacts", params(LookupParams),
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<LookupParams>,
) -> Result<Json<Contact>, AppError> {
    let user = caller.require(Action::ContactRead)?;
    let given = [
        (IdentifierKind::Email, p.email),
        (IdentifierKind::Phone, p.phone),
        (IdentifierKind::Whatsapp, p.whatsapp),
        (IdentifierKind::StudentCode, p.student_code),
        (IdentifierKind::Facebook, p.facebook),
        (IdentifierKind::Instagram, p.instagram),
    ];
    let mut given = given.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
    let (Some((kind, raw)), None) = (given.next(), given.next()) else {
        return Err(AppError::BadRequest(
            "give exactly one of email, phone, whatsapp, student_code, facebook, instagram".into(),
        ));
    };
    let ident =
        Identifier::parse(kind, &raw).map_err(|e| atiende_domain::RuleError::Invalid(vec![e]))?;
    let contact = state
        .store
        .find_contact(&ident)
        .await?
        .ok_or(AppError::NotFound("contact"))?;
    // A blocked person is not found by their identifiers, except by whoever handles the request.
    if contact.blocked_at.is_some() && !user.may(Action::PersonalData) {
        return Err(AppError::NotFound("contact"));
    }
    Ok(Json(logged_read(&state, user, contact).await?))
}

/// Records the read in the personal-data access log, as the console does for every look.
async fn logged_read(
    state: &AppState,
    user: &StaffUser,
    contact: Contact,
) -> Result<Contact, AppError> {
    state
        .store
        .log_personal_access(Actor::Staff(user), contact.id, DataAction::View, "api")
        .await?;
    Ok(contact)
}

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = i64, Path)), responses((status = 200, body = Contact)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Contact>, AppError> {
    let user = caller.require(Action::ContactRead)?;
    let contact = state.store.contact(ContactId(id)).await?;
    // A blocked person is out of normal use: only the administrator handling the request sees
    // them (as in the console).
    if contact.blocked_at.is_some() && !user.may(Action::PersonalData) {
        return Err(AppError::Forbidden);
    }
    Ok(Json(logged_read(&state, user, contact).await?))
}

/// Edits a contact; fields left out keep their value. The audit trail keeps before and after.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(("id" = i64, Path)), request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 409, body = crate::error::ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<ContactInput>,
) -> Result<Json<Contact>, AppError> {
    let user = caller.require(Action::ContactWrite)?;
    Ok(Json(
        state
            .store
            .update_contact(Actor::Staff(user), ContactId(id), &input)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The contact that is merged into this one and then only remains as a pointer.
    pub other_id: ContactId,
}

/// Merges another contact into this one, keeping both histories.
#[utoipa::path(post, path = "/contacts/{id}/merge", tag = "contacts", params(("id" = i64, Path)), request_body = MergeRequest,
    responses((status = 200, body = Contact)))]
async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<MergeRequest>,
) -> Result<Json<Contact>, AppError> {
    let user = caller.require(Action::ContactMerge)?;
    Ok(Json(
        state
            .store
            .merge_contacts(Actor::Staff(user), ContactId(id), body.other_id)
            .await?,
    ))
}
