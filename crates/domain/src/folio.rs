//! Folios: `CAP-YYYY-NNNNNN`, sequential per calendar year of the institution, never reused.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Folio {
    pub year: i32,
    pub seq: i64,
}

impl Folio {
    /// The year a folio belongs to: the institution's local year when the incident was received,
    /// so an incident received on 31 December at 23:30 in Guadalajara is numbered in that year.
    pub fn year_of(received_at: DateTime<Utc>, tz: Tz) -> i32 {
        received_at.with_timezone(&tz).year()
    }
}

impl std::fmt::Display for Folio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CAP-{:04}-{:06}", self.year, self.seq)
    }
}

impl std::str::FromStr for Folio {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let rest = s.trim().strip_prefix("CAP-").ok_or(())?;
        let (year, seq) = rest.split_once('-').ok_or(())?;
        if year.len() != 4 || seq.len() < 6 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        Ok(Folio {
            year: year.parse().map_err(|_| ())?,
            seq: seq.parse().map_err(|_| ())?,
        })
    }
}

impl Serialize for Folio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Folio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom("expected a folio like CAP-2026-000123"))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Folio {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .examples([serde_json::json!("CAP-2026-000123")])
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Folio {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_folio_is_written_with_six_digits_and_read_back() {
        let folio = Folio {
            year: 2026,
            seq: 123,
        };
        assert_eq!(folio.to_string(), "CAP-2026-000123");
        assert_eq!("CAP-2026-000123".parse::<Folio>(), Ok(folio));
        assert_eq!(
            "CAP-2026-1234567".parse::<Folio>().map(|f| f.seq),
            Ok(1_234_567)
        );
        assert!("CAP-26-000123".parse::<Folio>().is_err());
        assert!("XYZ-2026-000123".parse::<Folio>().is_err());
    }

    #[test]
    fn new_years_eve_in_guadalajara_still_belongs_to_the_old_year() {
        // 31 Dec 2025 23:30 in Mexico City is 1 Jan 2026 05:30 UTC.
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 5, 30, 0).single();
        let received = received.expect("valid date");
        assert_eq!(Folio::year_of(received, crate::DEFAULT_TIME_ZONE), 2025);
    }
}
