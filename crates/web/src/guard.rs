//! What every request must be before any handler sees it: an address of a sane length, and no
//! NUL character in its address or in a text body (JSON or a form). No column holds a NUL
//! (PostgreSQL refuses it, SQLite would cut text at it), so such a request is refused whole,
//! with the same 400 on both engines — instead of a 500 from the database on one of them.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// Longest address accepted (path and query). Browsers and proxies stop near here too.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest text body read here: the same as the extractors' own limit (axum's default).
const MAX_TEXT_BODY: usize = 2 * 1024 * 1024;

pub async fn check(req: Request, next: Next) -> Response {
    let uri = req.uri().to_string();
    if uri.len() > MAX_URI_BYTES {
        return AppError::UriTooLong.into_response();
    }
    if contains_ignore_case(uri.as_bytes(), b"%00") {
        return AppError::NulInText.into_response();
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let has_nul: fn(&[u8]) -> bool = if content_type.starts_with("application/json") {
        json_has_nul
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        |b| contains_ignore_case(b, b"%00")
    } else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_TEXT_BODY).await {
        Ok(b) => b,
        Err(_) => return AppError::TooLarge.into_response(),
    };
    if bytes.contains(&0) || has_nul(&bytes) {
        return AppError::NulInText.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A `\u0000` escape in JSON text: preceded by an even number of backslashes (an odd number
/// would make its own backslash a literal one).
fn json_has_nul(text: &[u8]) -> bool {
    text.windows(6).enumerate().any(|(at, w)| {
        w.eq_ignore_ascii_case(b"\\u0000")
            && text[..at].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 0
    })
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::{contains_ignore_case, json_has_nul};

    #[test]
    fn a_nul_is_found_however_it_is_written_and_only_then() {
        assert!(contains_ignore_case(b"name=a%00b", b"%00"));
        assert!(!contains_ignore_case(b"name=100%25", b"%00"));
        assert!(json_has_nul(br#"{"name":"a\u0000"}"#));
        assert!(json_has_nul(br#"{"name":"a\\\U0000"}"#));
        assert!(
            !json_has_nul(br#"{"name":"a\\u0000"}"#),
            "a backslash, then u0000"
        );
    }
}
