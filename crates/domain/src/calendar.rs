//! Dates as the institution lives them: a day or period starts at local midnight in its time
//! zone (America/Mexico_City by default), never at UTC midnight.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a local calendar day starts.
pub fn day_start(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Mexico has no DST since 2022, but older dates and other zones may skip midnight: take
    // the earliest valid instant of that day.
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            let one_am = date.and_hms_opt(1, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&one_am).earliest().map_or_else(
                || Utc.from_utc_datetime(&midnight),
                |t| t.with_timezone(&Utc),
            )
        }
    }
}

/// Parses a bound given as a local date (`2026-01-31`) or an instant (RFC 3339). An `end`
/// date is inclusive: it becomes the start of the next day.
pub fn parse_bound(raw: &str, tz: Tz, end: bool) -> Option<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
        let date = if end { date.succ_opt()? } else { date };
        return Some(day_start(date, tz));
    }
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_in_guadalajara_starts_at_six_utc() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 31).expect("date");
        assert_eq!(
            day_start(d, crate::DEFAULT_TIME_ZONE).to_rfc3339(),
            "2026-01-31T06:00:00+00:00"
        );
    }

    #[test]
    fn an_end_date_includes_the_whole_local_day() {
        let end = parse_bound("2026-01-31", crate::DEFAULT_TIME_ZONE, true).expect("bound");
        assert_eq!(end.to_rfc3339(), "2026-02-01T06:00:00+00:00");
        assert!(parse_bound("31/01/2026", crate::DEFAULT_TIME_ZONE, false).is_none());
    }
}
