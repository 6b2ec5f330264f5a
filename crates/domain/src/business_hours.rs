//! The institution's business hours: working hours per weekday and the calendar's days off
//! (holidays and vacation periods), in its time zone. Service-level clocks and the
//! nonconformity criteria count time in it. Every instant is UTC; each day's opening and
//! closing are turned into instants on their own, so a change of offset (daylight saving time
//! where the time zone has it) falls where it belongs.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::error::Validator;

/// How far a computation looks ahead: no target is longer than a year of days, and a calendar
/// with no working hours at all must not loop for ever.
const MAX_DAYS: i64 = 800;

/// One day's opening and closing, local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shift {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "09:00"))]
    pub opens: NaiveTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "18:00"))]
    pub closes: NaiveTime,
}

/// Days off: one day, or a period (vacations), both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayOff {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    pub name: String,
}

/// Working hours Monday to Sunday (`None`: closed that weekday), and the days off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BusinessCalendar {
    /// Monday first.
    pub week: [Option<Shift>; 7],
    pub days_off: Vec<DayOff>,
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl Default for BusinessCalendar {
    /// The CAP's usual hours: Monday to Friday, 9:00 to 18:00.
    fn default() -> Self {
        let day = Some(Shift {
            opens: time(9, 0),
            closes: time(18, 0),
        });
        BusinessCalendar {
            week: [day, day, day, day, day, None, None],
            days_off: Vec::new(),
        }
    }
}

impl BusinessCalendar {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        for (i, shift) in self.week.iter().enumerate() {
            if shift.is_some_and(|s| s.opens >= s.closes) {
                v.push(&format!("week[{i}]"), "closes_before_it_opens");
            }
        }
        for (i, d) in self.days_off.iter().enumerate() {
            if d.from > d.to {
                v.push(&format!("days_off[{i}]"), "ends_before_it_starts");
            }
            if (d.to - d.from).num_days() > 366 {
                v.push(&format!("days_off[{i}]"), "out_of_range");
            }
        }
        if self.days_off.len() > 500 {
            v.push("days_off", "out_of_range");
        }
        v.finish()
    }

    /// Whether the CAP works on a local day: a weekday with hours that is not a day off.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        self.shift(day).is_some()
    }

    fn shift(&self, day: NaiveDate) -> Option<Shift> {
        let shift = self.week[day.weekday().num_days_from_monday() as usize]?;
        let off = self.days_off.iter().any(|d| d.from <= day && day <= d.to);
        (!off).then_some(shift)
    }

    /// Whether `at` falls within working hours (a live chat is offered then). A shift closing
    /// at 23:59 runs to midnight: the form takes no 24:00.
    pub fn is_open(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let day = at.with_timezone(&tz).date_naive();
        let Some(shift) = self.shift(day) else {
            return false;
        };
        let to_midnight = shift.closes == time(23, 59);
        self.window(day, tz)
            .is_some_and(|(opens, closes)| opens <= at && (at < closes || to_midnight))
    }

    /// A local day's working time as instants, when it has any.
    fn window(&self, day: NaiveDate, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let shift = self.shift(day)?;
        let opens = instant(day, shift.opens, tz)?;
        let closes = instant(day, shift.closes, tz)?;
        (opens < closes).then_some((opens, closes))
    }

    /// The instant `minutes` of working time after `start` (at once when `minutes` is 0 and
    /// `start` is within hours; else at the next opening). `None` if the calendar has no
    /// working time in the next two years.
    pub fn add(&self, start: DateTime<Utc>, minutes: i64, tz: Tz) -> Option<DateTime<Utc>> {
        let mut remaining = Duration::minutes(minutes.max(0));
        let mut day = start.with_timezone(&tz).date_naive();
        for _ in 0..MAX_DAYS {
            if let Some((opens, closes)) = self.window(day, tz) {
                let from = opens.max(start);
                if from < closes {
                    let available = closes - from;
                    if remaining <= available {
                        return Some(from + remaining);
                    }
                    remaining -= available;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// Working minutes between two instants (0 when `end` is not after `start`).
    pub fn minutes_between(&self, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> i64 {
        if end <= start {
            return 0;
        }
        let mut total = Duration::zero();
        let mut day = start.with_timezone(&tz).date_naive();
        let last = end.with_timezone(&tz).date_naive();
        for _ in 0..MAX_DAYS {
            if day > last {
                break;
            }
            if let Some((opens, closes)) = self.window(day, tz) {
                let (from, to) = (opens.max(start), closes.min(end));
                if from < to {
                    total += to - from;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        total.num_minutes()
    }

    /// Business days after the local day of `start`, up to and including the local day of
    /// `end`: a complaint received on Monday and closed on Friday took 4.
    pub fn business_days_between(&self, start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> i64 {
        let first = start.with_timezone(&tz).date_naive();
        let last = end.with_timezone(&tz).date_naive();
        let mut day = first;
        let mut n = 0;
        for _ in 0..MAX_DAYS {
            if day >= last {
                break;
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
            if self.is_business_day(day) {
                n += 1;
            }
        }
        n
    }
}

/// A local wall-clock time as an instant: in a gap (clocks moved forward) the first instant
/// after it, in an overlap (clocks moved back) the first of the two.
fn instant(day: NaiveDate, at: NaiveTime, tz: Tz) -> Option<DateTime<Utc>> {
    let local = day.and_time(at);
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MX: Tz = chrono_tz::America::Mexico_City;

    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .expect("a local time")
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn time_within_a_day_is_counted_in_working_minutes() {
        let cal = BusinessCalendar::default();
        // Wednesday 2 December 2026, 10:00 + 2 h = 12:00.
        let start = local(MX, 2026, 12, 2, 10, 0);
        assert_eq!(cal.add(start, 120, MX), Some(local(MX, 2026, 12, 2, 12, 0)));
        assert_eq!(
            cal.minutes_between(start, local(MX, 2026, 12, 2, 12, 0), MX),
            120
        );
    }

    #[test]
    fn the_cap_is_open_within_a_shift_and_closed_outside_it_and_on_days_off() {
        let mut cal = BusinessCalendar::default();
        assert!(cal.is_open(local(MX, 2026, 12, 2, 9, 0), MX));
        assert!(cal.is_open(local(MX, 2026, 12, 2, 17, 59), MX));
        assert!(!cal.is_open(local(MX, 2026, 12, 2, 18, 0), MX));
        assert!(!cal.is_open(local(MX, 2026, 12, 2, 8, 59), MX));
        assert!(
            !cal.is_open(local(MX, 2026, 12, 5, 12, 0), MX),
            "a Saturday"
        );
        cal.days_off.push(DayOff {
            from: date(2026, 12, 2),
            to: date(2026, 12, 2),
            name: "Día inhábil".into(),
        });
        assert!(!cal.is_open(local(MX, 2026, 12, 2, 12, 0), MX));
        let all_day = Some(Shift {
            opens: time(0, 0),
            closes: time(23, 59),
        });
        let always = BusinessCalendar {
            week: [all_day; 7],
            days_off: vec![],
        };
        assert!(
            always.is_open(local(MX, 2026, 12, 5, 23, 59), MX),
            "23:59 runs to midnight"
        );
    }

    #[test]
    fn the_clock_stops_overnight_and_across_the_weekend() {
        let cal = BusinessCalendar::default();
        // Friday 4 December, 17:00 + 3 working hours: 1 h on Friday, 2 h on Monday.
        let friday = local(MX, 2026, 12, 4, 17, 0);
        let monday = local(MX, 2026, 12, 7, 11, 0);
        assert_eq!(cal.add(friday, 180, MX), Some(monday));
        assert_eq!(cal.minutes_between(friday, monday, MX), 180);
        // Received on Saturday: the clock starts on Monday at opening.
        let saturday = local(MX, 2026, 12, 5, 10, 0);
        assert_eq!(cal.add(saturday, 0, MX), Some(local(MX, 2026, 12, 7, 9, 0)));
        assert_eq!(
            cal.minutes_between(saturday, local(MX, 2026, 12, 7, 9, 0), MX),
            0
        );
    }

    #[test]
    fn days_off_and_vacation_periods_do_not_count() {
        let cal = BusinessCalendar {
            days_off: vec![
                DayOff {
                    from: date(2026, 12, 21),
                    to: date(2027, 1, 6),
                    name: "Vacaciones de invierno".into(),
                },
                DayOff {
                    from: date(2027, 2, 1),
                    to: date(2027, 2, 1),
                    name: "Día de la Constitución".into(),
                },
            ],
            ..Default::default()
        };
        assert!(cal.check().is_ok());
        // Friday 18 December, 17:00 + 2 h: back on Thursday 7 January at 10:00.
        let start = local(MX, 2026, 12, 18, 17, 0);
        assert_eq!(cal.add(start, 120, MX), Some(local(MX, 2027, 1, 7, 10, 0)));
        // Friday 29 January 17:30 + 1 h: Monday 1 February is a holiday.
        let start = local(MX, 2027, 1, 29, 17, 30);
        assert_eq!(cal.add(start, 60, MX), Some(local(MX, 2027, 2, 2, 9, 30)));
        assert!(!cal.is_business_day(date(2027, 2, 1)));
        assert_eq!(
            cal.business_days_between(
                local(MX, 2027, 1, 29, 10, 0),
                local(MX, 2027, 2, 3, 10, 0),
                MX
            ),
            2
        );
    }

    #[test]
    fn a_change_of_offset_falls_on_its_own_day() {
        // New York moves its clocks forward on Sunday 8 March 2026 and back on 1 November.
        let ny: Tz = chrono_tz::America::New_York;
        let cal = BusinessCalendar::default();
        // Friday 6 March 17:00 EST + 2 h: Monday 9 March 10:00 EDT — nine working hours a day
        // on both sides, whatever the offset.
        let start = local(ny, 2026, 3, 6, 17, 0);
        let end = local(ny, 2026, 3, 9, 10, 0);
        assert_eq!(cal.add(start, 120, ny), Some(end));
        assert_eq!(
            (end - start).num_hours(),
            64,
            "65 wall-clock hours less the lost one"
        );
        assert_eq!(cal.minutes_between(start, end, ny), 120);
        // Open on a Sunday across the night the clocks go back: 9:00 to 18:00 is still 9 h.
        let mut sundays = BusinessCalendar::default();
        sundays.week[6] = sundays.week[0];
        let opens = local(ny, 2026, 11, 1, 9, 0);
        assert_eq!(
            sundays.minutes_between(opens, local(ny, 2026, 11, 1, 18, 0), ny),
            540
        );
    }

    #[test]
    fn the_same_instant_is_a_different_local_day_in_another_time_zone() {
        let cal = BusinessCalendar::default();
        // Saturday 5 December 2026 at 01:00 UTC is still Friday 19:00 in Mexico City (closed:
        // the next working minute is Monday) but Saturday in Madrid.
        let t = DateTime::parse_from_rfc3339("2026-12-05T01:00:00Z")
            .expect("instant")
            .with_timezone(&Utc);
        assert_eq!(cal.add(t, 0, MX), Some(local(MX, 2026, 12, 7, 9, 0)));
        let madrid: Tz = chrono_tz::Europe::Madrid;
        assert_eq!(
            cal.add(t, 0, madrid),
            Some(local(madrid, 2026, 12, 7, 9, 0))
        );
        // Thursday 23:30 UTC is 17:30 in Mexico City: 30 minutes left that day.
        let thu = DateTime::parse_from_rfc3339("2026-12-03T23:30:00Z")
            .expect("instant")
            .with_timezone(&Utc);
        assert_eq!(cal.add(thu, 45, MX), Some(local(MX, 2026, 12, 4, 9, 15)));
    }

    #[test]
    fn a_calendar_without_hours_never_loops_and_bad_hours_are_refused() {
        let closed = BusinessCalendar {
            week: [None; 7],
            days_off: vec![],
        };
        assert_eq!(closed.add(Utc::now(), 60, MX), None);
        let mut bad = BusinessCalendar::default();
        bad.week[0] = Some(Shift {
            opens: time(18, 0),
            closes: time(9, 0),
        });
        bad.days_off.push(DayOff {
            from: date(2026, 12, 25),
            to: date(2026, 12, 24),
            name: String::new(),
        });
        let e = bad.check().unwrap_err();
        let codes: Vec<_> = e.fields().iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["closes_before_it_opens", "ends_before_it_starts"]);
    }
}
