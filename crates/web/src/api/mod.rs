//! The JSON API under `/api/v1`. Each module is one resource with its own routes; the OpenAPI
//! document is generated from the handlers' annotations.

pub mod audit;
pub mod canned_responses;
pub mod channels;
pub mod contacts;
pub mod incidents;
pub mod knowledge;
pub mod macros;
pub mod notifications;
pub mod privacy;
pub mod quality;
pub mod session;
pub mod settings;
pub mod suggestions;
pub mod units;
pub mod users;
pub mod webhooks;

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

/// Handlers are named for what they do within their module (`list`, `create`…); an operation's
/// id, which client generators turn into method names, must be unique: it is the tag and the
/// handler's name (`units_list`, `quality_indicators`).
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .map(|t| t.replace(' ', "_"))
                    .unwrap_or_default();
                if let Some(id) = &op.operation_id
                    && !tag.is_empty()
                    && !id.starts_with(&format!("{tag}_"))
                {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
            }
        }
    }
}

/// The API's routes and its document, complete: unique operation ids and an example on every
/// schema an operation takes or answers with.
pub fn routes_and_document() -> (axum::Router<AppState>, serde_json::Value) {
    let (routes, mut doc) = router().split_for_parts();
    OperationIds.modify(&mut doc);
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    with_examples(&mut doc);
    (routes, doc)
}

/// One example per schema, written in one place (`examples.json`) and checked against its
/// schema by `scripts/openapi-check`; a page of a list shows its item's.
const EXAMPLES: &str = include_str!("examples.json");

fn with_examples(doc: &mut serde_json::Value) {
    let examples: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(EXAMPLES).unwrap_or_default();
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        let example = match name.strip_prefix("Page_") {
            Some(item) => examples
                .get(item)
                .map(|e| serde_json::json!({"items": [e], "next_cursor": serde_json::Value::Null})),
            None => examples.get(name).cloned(),
        };
        if let (Some(example), Some(schema)) = (example, schema.as_object_mut()) {
            schema.insert("examples".into(), serde_json::json!([example]));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_is_of_a_schema_of_the_document() {
        let (_, doc) = super::routes_and_document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let examples: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(super::EXAMPLES).expect("examples.json is JSON");
        let unknown: Vec<_> = examples
            .keys()
            .filter(|k| !schemas.contains_key(*k))
            .collect();
        assert!(unknown.is_empty(), "examples of no schema: {unknown:?}");
    }
}

fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::router())
        .merge(contacts::router())
        .merge(incidents::router())
        .merge(units::router())
        .merge(users::router())
        .merge(audit::router())
        .merge(quality::router())
        .merge(knowledge::router())
        .merge(canned_responses::router())
        .merge(macros::router())
        .merge(suggestions::router())
        .merge(privacy::router())
        .merge(channels::router())
        .merge(webhooks::router())
        .merge(settings::router())
        .merge(notifications::router())
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
    pub fn of(items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Self {
        Page::with_cursor(items, limit, |t| id_of(t).to_string())
    }

    /// [`Page::of`] for a list whose cursor is more than an id (a list in due order).
    pub fn with_cursor(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(cursor_of)
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
