//! The JSON API under `/api/v1`. Each module is one resource with its own routes; the OpenAPI
//! document is generated from the handlers' annotations.

pub mod audit;
pub mod channels;
pub mod contacts;
pub mod incidents;
pub mod knowledge;
pub mod privacy;
pub mod quality;
pub mod session;
pub mod units;
pub mod users;

use atiende_store::MAX_PAGE;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "atiende API", description = "Help desk and CRM for the CAP of UDG Virtual: incidents, contacts, derivations, units, staff."),
    servers((url = "/api/v1")),
    modifiers(&Security),
    security(("session" = []), ("bearer" = [])),
    components(schemas(crate::error::ErrorEnvelope))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Session cookie from POST /session; changes also need the X-CSRF-Token header.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::router())
        .merge(contacts::router())
        .merge(incidents::router())
        .merge(units::router())
        .merge(users::router())
        .merge(audit::router())
        .merge(quality::router())
        .merge(knowledge::router())
        .merge(privacy::router())
        .merge(channels::router())
}

/// One page of a list. Pass `next_cursor` as `cursor` for the next page; `null` means this
/// is the last. Lists of records grow newest first; catalogues (units, topics, users) list in
/// the order they were added, with their `total`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    /// How many there are in all, where counting is cheap (the catalogues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

impl<T: ToSchema> Page<T> {
    /// Builds a page from one more row than asked for: its presence means there is a next page.
    pub fn of(mut items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Self {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|i| id_of(i).to_string())
        } else {
            None
        };
        Page {
            items,
            next_cursor,
            total: None,
        }
    }

    /// A page of a whole catalogue held in memory, in id order, after the cursor's id.
    pub fn of_catalogue(
        mut all: Vec<T>,
        params: &PageParams,
        id_of: impl Fn(&T) -> i64,
    ) -> Result<Self, crate::AppError> {
        let total = all.len() as i64;
        let after = params.before_id()?.unwrap_or(i64::MIN);
        all.sort_by_key(|t| id_of(t));
        let items: Vec<T> = all.into_iter().filter(|t| id_of(t) > after).collect();
        let mut page = Page::of(items, params.limit(), id_of);
        page.total = Some(total);
        Ok(page)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub cursor: Option<String>,
    /// 1–200, default 50; a larger one gives 200.
    pub limit: Option<i64>,
}

impl PageParams {
    /// The page's size; the list is asked for one row more (see [`Page::of`]).
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, MAX_PAGE)
    }

    pub fn before_id(&self) -> Result<Option<i64>, crate::AppError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse()
                    .map_err(|_| crate::AppError::BadRequest("cursor".into()))
            })
            .transpose()
    }
}
