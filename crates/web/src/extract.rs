//! Axum's extractors with their rejections turned into the API's error envelope.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::PathRejection;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// A JSON body. What is wrong with one is said in the caller's words, never the parser's: a
/// body that is not JSON is `malformed_json` (400), one sent as something else
/// `json_expected` (415); a field of the wrong type, missing or with
/// an unknown value is a validation error (422) naming that field.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(AppError::JsonExpected);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::TooLarge)?;
        parse_json(&bytes).map(Json)
    }
}

/// `body` as `T`, or the error that names what is wrong in it.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => de.end().map(|_| v).map_err(|_| AppError::MalformedJson),
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(AppError::MalformedJson);
            }
            Err(invalid_field(&e.path().to_string(), &inner.to_string()))
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The validation error for what the parser said about the field at `path`, in our codes:
/// a missing field, an unknown one, one of the wrong type, or a value it does not take.
fn invalid_field(path: &str, message: &str) -> AppError {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|m| m.split('`').next())
            .map(str::to_string)
    };
    let missing = named("missing field `");
    let unknown = named("unknown field `");
    // The path ends at the field that was wrong, or unknown; a missing one is named only by
    // the message, under the path of its object.
    let field = match (missing.as_ref(), path) {
        (Some(name), "." | "") => name.clone(),
        (Some(name), p) => format!("{p}.{name}"),
        (None, "." | "") => unknown.clone().unwrap_or_else(|| "body".to_string()),
        (None, p) => p.to_string(),
    };
    let code = if missing.is_some() {
        "required"
    } else if unknown.is_some() {
        "unknown_field"
    } else if message.starts_with("invalid type") {
        "invalid_type"
    } else {
        "invalid"
    };
    AppError::Rule(atiende_domain::RuleError::Invalid(vec![
        atiende_domain::FieldError::new(field, code),
    ]))
}

/// The largest body of a request that carries an entry's files: all of them at their limit,
/// with room for the text and the form's framing.
pub const ENTRY_BODY_LIMIT: usize = atiende_domain::attachment::MAX_TOTAL_BYTES + 1024 * 1024;

/// A multipart form (`multipart/form-data`): its text fields and its files, read whole. The
/// route's body limit bounds it; the files are checked by the step that keeps them.
pub struct MultipartForm {
    pub fields: Vec<(String, String)>,
    pub files: Vec<atiende_store::attachments::Upload>,
}

impl MultipartForm {
    /// Whether a request carries a multipart form.
    pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
        headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"))
    }

    /// The last value of a text field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for MultipartForm {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let too_large = |e: &axum::extract::multipart::MultipartError| {
            e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        };
        let mut form = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|_| AppError::MalformedForm)?;
        let mut fields = Vec::new();
        let mut files = Vec::new();
        loop {
            let field = match form.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if too_large(&e) => return Err(AppError::TooLarge),
                Err(_) => return Err(AppError::MalformedForm),
            };
            let name = field.name().unwrap_or_default().to_string();
            let filename = field.file_name().map(str::to_string);
            let bytes = match field.bytes().await {
                Ok(b) => b,
                Err(e) if too_large(&e) => return Err(AppError::TooLarge),
                Err(_) => return Err(AppError::MalformedForm),
            };
            match filename {
                // A file input left empty still sends a part with no name and no bytes.
                Some(f) if f.is_empty() && bytes.is_empty() => {}
                Some(filename) => files.push(atiende_store::attachments::Upload {
                    filename,
                    data: bytes.to_vec(),
                }),
                None => fields.push((
                    name,
                    String::from_utf8(bytes.to_vec()).map_err(|_| AppError::MalformedForm)?,
                )),
            }
        }
        Ok(MultipartForm { fields, files })
    }
}

/// A query string's parameters; a wrong one is a validation error naming it.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                // The query deserialiser names a value it cannot read only in its message.
                let path = e.path().to_string();
                invalid_field(&path, &e.inner().to_string())
            })
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> Self {
        AppError::BadRequest(r.body_text())
    }
}
