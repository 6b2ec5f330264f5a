//! What the providers' webhook parsers share: their error and the providers' timestamps. Kept
//! apart (no I/O, no storage) so that the fuzz targets compile the parsers on their own.

/// A webhook body that cannot be read as the documented payload.
#[derive(Debug, thiserror::Error)]
#[error("webhook payload not understood: {0}")]
pub struct PayloadError(pub String);

/// Seconds since the epoch, as WhatsApp sends them (in a string).
pub(crate) fn from_secs(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_else(chrono::Utc::now)
}

/// Milliseconds since the epoch, as Messenger and Instagram send them.
pub(crate) fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_else(chrono::Utc::now)
}
