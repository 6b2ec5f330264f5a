//! The HTTP client the OAuth 2.0 and OpenID Connect libraries call (token endpoints,
//! discovery, keys): ureq on a blocking thread, no redirects followed (an endpoint that
//! redirects is misconfigured), statuses returned as they are for the library to read.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

pub async fn oauth(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let response = agent.run(request).map_err(|e| HttpError(e.to_string()))?;
        let (parts, mut body) = response.into_parts();
        let bytes = body.read_to_vec().map_err(|e| HttpError(e.to_string()))?;
        Ok(oauth2::HttpResponse::from_parts(parts, bytes))
    })
    .await
    .map_err(|e| HttpError(e.to_string()))?
}

/// The whole chain of an error, for the log (the provider's own words included).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
