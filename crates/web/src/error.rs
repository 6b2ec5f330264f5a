//! One error type for the web edge and one JSON envelope:
//! `{"error": {"code", "message", "fields": [{"field", "code", "message"}]}}`.
//! Database errors are logged and never shown.

use atiende_domain::classification::Lang;
use atiende_domain::{FieldError, RuleError};
use atiende_store::StoreError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::i18n;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not authenticated")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// The role would allow it; the API token's scopes do not.
    #[error("the token's scopes do not cover this")]
    InsufficientScope,
    #[error("the password must be changed first")]
    PasswordChangeRequired,
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("too many attempts")]
    RateLimited,
    /// Passwords are refused: staff sign in through the institution's identity provider.
    #[error("sign in through the institution's identity provider")]
    SsoRequired,
    /// The account needs a second factor: a code to sign in, or setting one up first.
    #[error("a second factor is required")]
    SecondFactorRequired,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A body that is not JSON at all.
    #[error("malformed JSON")]
    MalformedJson,
    /// A body sent as something other than JSON where JSON is expected.
    #[error("JSON expected")]
    JsonExpected,
    /// A multipart form (files) that cannot be read.
    #[error("malformed form")]
    MalformedForm,
    /// An API address that exists, asked with a method it does not take.
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Text with a NUL character: no column can hold it (PostgreSQL refuses it), so the
    /// request is refused whole, the same on both engines.
    #[error("text with a NUL character")]
    NulInText,
    #[error("the address is too long")]
    UriTooLong,
    #[error("the request body is too large")]
    TooLarge,
    #[error(transparent)]
    Rule(RuleError),
    #[error("conflict on {field}")]
    Conflict {
        field: String,
        code: String,
        existing_id: Option<i64>,
    },
    /// The database cannot do the work for now (restarting, unreachable, out of disk): the
    /// same request may succeed in a moment, and nothing of it was saved.
    #[error("storage unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => AppError::Rule(r),
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Forbidden => AppError::Forbidden,
            StoreError::Conflict {
                field,
                code,
                existing_id,
            } => AppError::Conflict {
                field,
                code,
                existing_id,
            },
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "storage unavailable");
                AppError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                AppError::Internal
            }
        }
    }
}

impl From<RuleError> for AppError {
    fn from(e: RuleError) -> Self {
        AppError::Rule(e)
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden
            | AppError::InsufficientScope
            | AppError::Csrf
            | AppError::PasswordChangeRequired => StatusCode::FORBIDDEN,
            AppError::Rule(RuleError::OnlyLeadDerivesToTopManagement) => StatusCode::FORBIDDEN,
            AppError::Rule(RuleError::ContactBlocked) => StatusCode::CONFLICT,
            AppError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            AppError::SsoRequired => StatusCode::FORBIDDEN,
            AppError::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::MalformedJson | AppError::MalformedForm => StatusCode::BAD_REQUEST,
            AppError::JsonExpected => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BadRequest(_) | AppError::NulInText => StatusCode::BAD_REQUEST,
            AppError::UriTooLong => StatusCode::URI_TOO_LONG,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::InsufficientScope => "insufficient_scope",
            AppError::PasswordChangeRequired => "password_change_required",
            AppError::Csrf => "csrf",
            AppError::RateLimited => "rate_limited",
            AppError::SsoRequired => "sso_required",
            AppError::SecondFactorRequired => "second_factor_required",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::MalformedJson => "malformed_json",
            AppError::JsonExpected => "json_expected",
            AppError::MalformedForm => "malformed_form",
            AppError::BadRequest(_) => "bad_request",
            AppError::NulInText => "nul_in_text",
            AppError::UriTooLong => "uri_too_long",
            AppError::TooLarge => "too_large",
            AppError::Rule(r) => r.code(),
            AppError::Conflict { .. } => "conflict",
            AppError::Unavailable => "unavailable",
            AppError::Internal => "internal",
        }
    }

    fn fields(&self) -> Vec<FieldError> {
        match self {
            AppError::Rule(r) => r.fields().to_vec(),
            AppError::Conflict { field, code, .. } => {
                vec![FieldError::new(field.clone(), code.clone())]
            }
            _ => vec![],
        }
    }
}

/// The error waiting in a response for [`localize`] to write it in the caller's language.
#[derive(Debug, Clone)]
struct PendingError {
    code: &'static str,
    fields: Vec<FieldError>,
    detail: Option<String>,
    existing_id: Option<i64>,
    what: Option<&'static str>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let pending = PendingError {
            code: self.code(),
            fields: self.fields(),
            detail: match &self {
                AppError::BadRequest(d) => Some(d.clone()),
                _ => None,
            },
            existing_id: match &self {
                AppError::Conflict { existing_id, .. } => *existing_id,
                _ => None,
            },
            what: match &self {
                AppError::NotFound(w) => Some(w),
                _ => None,
            },
        };
        let mut response = self.status().into_response();
        if matches!(self, AppError::Unavailable) {
            // A database restart or failover takes seconds.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response.extensions_mut().insert(pending);
        response
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `close_requirements`, `validation`, `forbidden`.
    pub code: String,
    /// A sentence for a person, in the caller's language.
    pub message: String,
    pub fields: Vec<FieldMessage>,
    /// For conflicts: the record that already holds the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldMessage {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// The language a browser asks for in `Accept-Language`, else Spanish.
pub fn request_lang_of(headers: &axum::http::HeaderMap) -> Lang {
    accept_language(headers).unwrap_or_default()
}

fn accept_language(headers: &axum::http::HeaderMap) -> Option<Lang> {
    let header = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let first = header.split(',').next()?.split(';').next()?.trim();
    Lang::from_code(first).or_else(|| Lang::from_code(first.split('-').next()?))
}

/// The caller's language: `?lang=`, then `Accept-Language`, then Spanish.
pub fn request_lang(req: &Request) -> Lang {
    let from_query = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang=")))
        .and_then(Lang::from_code);
    from_query
        .or_else(|| accept_language(req.headers()))
        .unwrap_or_default()
}

/// Writes pending errors as the JSON envelope, in the caller's language.
pub async fn localize(req: Request, next: Next) -> Response {
    let lang = request_lang(&req);
    let mut response = next.run(req).await;
    let Some(pending) = response.extensions_mut().remove::<PendingError>() else {
        return response;
    };
    let fields: Vec<FieldMessage> = pending
        .fields
        .iter()
        .map(|f| FieldMessage {
            field: f.field.clone(),
            code: f.code.clone(),
            message: i18n::field_message(f, lang),
        })
        .collect();
    let message = i18n::error_message(
        pending.code,
        &pending.fields,
        pending.what,
        pending.detail.as_deref(),
        lang,
    );
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: pending.code.to_string(),
            message,
            fields,
            existing_id: pending.existing_id,
        },
    };
    let status = response.status();
    let mut out = (status, axum::Json(body)).into_response();
    out.headers_mut().insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    if status == StatusCode::UNAUTHORIZED {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    out
}
