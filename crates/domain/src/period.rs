//! Measurement periods (periodicidad) of the quality system: months, quarters, semesters and
//! years of the institution's calendar, counted in its time zone. Months are keyed `yyyymm`.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::classification::{Lang, coded_enum};

coded_enum!(
    Periodicity {
        Monthly = "monthly", "Mensual", "Monthly";
        Quarterly = "quarterly", "Trimestral", "Quarterly";
        Semester = "semester", "Semestral", "Semester";
        Yearly = "yearly", "Anual", "Yearly";
    }
);

impl Periodicity {
    fn months(self) -> u32 {
        match self {
            Periodicity::Monthly => 1,
            Periodicity::Quarterly => 3,
            Periodicity::Semester => 6,
            Periodicity::Yearly => 12,
        }
    }
}

/// The month key (`yyyymm`) of an instant in the institution's time zone.
pub fn month_key(at: DateTime<Utc>, tz: Tz) -> i64 {
    let local = at.with_timezone(&tz);
    i64::from(local.year()) * 100 + i64::from(local.month())
}

/// One period: e.g. the second semester of 2026 (`2026-S2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub periodicity: Periodicity,
    pub year: i32,
    /// 1-based: month 1–12, quarter 1–4, semester 1–2, always 1 for a year.
    pub index: u32,
}

impl Period {
    /// The period of that kind containing an instant.
    pub fn containing(at: DateTime<Utc>, tz: Tz, periodicity: Periodicity) -> Period {
        let local = at.with_timezone(&tz);
        Period {
            periodicity,
            year: local.year(),
            index: (local.month() - 1) / periodicity.months() + 1,
        }
    }

    /// First and last month keys, inclusive.
    pub fn months(&self) -> (i64, i64) {
        let n = self.periodicity.months();
        let first = (self.index - 1) * n + 1;
        let year = i64::from(self.year) * 100;
        (year + i64::from(first), year + i64::from(first + n - 1))
    }

    pub fn previous(&self) -> Period {
        let per_year = 12 / self.periodicity.months();
        if self.index > 1 {
            Period {
                index: self.index - 1,
                ..*self
            }
        } else {
            Period {
                year: self.year - 1,
                index: per_year,
                ..*self
            }
        }
    }

    pub fn next(&self) -> Period {
        let per_year = 12 / self.periodicity.months();
        if self.index < per_year {
            Period {
                index: self.index + 1,
                ..*self
            }
        } else {
            Period {
                year: self.year + 1,
                index: 1,
                ..*self
            }
        }
    }

    /// This period and the `n - 1` before it, oldest first.
    pub fn trailing(&self, n: usize) -> Vec<Period> {
        let mut out = vec![*self];
        while out.len() < n {
            let before = out.last().map_or(*self, Period::previous);
            out.push(before);
        }
        out.reverse();
        out
    }

    /// The instants the period spans in the institution's time zone: from its first day's
    /// midnight to the next period's (exclusive).
    pub fn bounds(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let first_day = |p: &Period| {
            let (first, _) = p.months();
            chrono::NaiveDate::from_ymd_opt((first / 100) as i32, (first % 100) as u32, 1)
                .unwrap_or_default()
        };
        (
            crate::calendar::day_start(first_day(self), tz),
            crate::calendar::day_start(first_day(&self.next()), tz),
        )
    }

    /// `2026-07`, `2026-Q3`, `2026-S2`, `2026`.
    pub fn code(&self) -> String {
        match self.periodicity {
            Periodicity::Monthly => format!("{}-{:02}", self.year, self.index),
            Periodicity::Quarterly => format!("{}-Q{}", self.year, self.index),
            Periodicity::Semester => format!("{}-S{}", self.year, self.index),
            Periodicity::Yearly => format!("{}", self.year),
        }
    }

    pub fn parse(code: &str) -> Option<Period> {
        let code = code.trim();
        let (year, rest) = match code.split_once('-') {
            Some((y, r)) => (y.parse().ok()?, Some(r)),
            None => (code.parse().ok()?, None),
        };
        if !(1900..=2999).contains(&year) {
            return None;
        }
        let (periodicity, index) = match rest {
            None => (Periodicity::Yearly, 1),
            Some(r) if r.starts_with('Q') => (Periodicity::Quarterly, r[1..].parse().ok()?),
            Some(r) if r.starts_with('S') => (Periodicity::Semester, r[1..].parse().ok()?),
            Some(r) => (Periodicity::Monthly, r.parse().ok()?),
        };
        (index >= 1 && index <= 12 / periodicity.months()).then_some(Period {
            periodicity,
            year,
            index,
        })
    }

    /// How the period reads in the interface.
    pub fn label(&self, lang: Lang) -> String {
        const MONTHS_ES: [&str; 12] = [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ];
        const MONTHS_EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let i = self.index as usize;
        match (self.periodicity, lang) {
            (Periodicity::Monthly, Lang::Es) => {
                format!("{} {}", MONTHS_ES.get(i - 1).unwrap_or(&""), self.year)
            }
            (Periodicity::Monthly, Lang::En) => {
                format!("{} {}", MONTHS_EN.get(i - 1).unwrap_or(&""), self.year)
            }
            (Periodicity::Quarterly, Lang::Es) => format!("{}.º trimestre {}", i, self.year),
            (Periodicity::Quarterly, Lang::En) => format!("Q{} {}", i, self.year),
            (Periodicity::Semester, Lang::Es) => format!("{}.º semestre {}", i, self.year),
            (Periodicity::Semester, Lang::En) => format!("H{} {}", i, self.year),
            (Periodicity::Yearly, _) => self.year.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_period_spans_from_local_midnight_to_the_next_periods() {
        let tz = crate::DEFAULT_TIME_ZONE;
        let (start, end) = super::Period::parse("2026-S2")
            .expect("semester")
            .bounds(tz);
        // Mexico City is UTC−6 all year since 2022.
        assert_eq!(start.to_rfc3339(), "2026-07-01T06:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T06:00:00+00:00");
        let (start, end) = super::Period::parse("2026-12").expect("month").bounds(tz);
        assert_eq!(
            (start.to_rfc3339().as_str(), end.to_rfc3339().as_str()),
            ("2026-12-01T06:00:00+00:00", "2027-01-01T06:00:00+00:00")
        );
    }

    use super::*;
    use chrono::TimeZone;

    const TZ: Tz = crate::DEFAULT_TIME_ZONE;

    #[test]
    fn the_31st_of_january_at_2330_local_belongs_to_january() {
        let at = Utc
            .with_ymd_and_hms(2026, 2, 1, 5, 30, 0)
            .single()
            .expect("instant");
        assert_eq!(month_key(at, TZ), 202601);
        let p = Period::containing(at, TZ, Periodicity::Monthly);
        assert_eq!(p.code(), "2026-01");
    }

    #[test]
    fn periods_cover_their_months_and_walk_back_across_years() {
        let s2 = Period::parse("2026-S2").expect("semester");
        assert_eq!(s2.months(), (202607, 202612));
        assert_eq!(s2.previous().code(), "2026-S1");
        assert_eq!(s2.previous().previous().code(), "2025-S2");
        assert_eq!(s2.next().code(), "2027-S1");
        assert_eq!(s2.next().previous(), s2);
        let q1 = Period::parse("2026-Q1").expect("quarter");
        assert_eq!(q1.months(), (202601, 202603));
        let trail: Vec<String> = q1.trailing(3).iter().map(Period::code).collect();
        assert_eq!(trail, ["2025-Q3", "2025-Q4", "2026-Q1"]);
        assert_eq!(
            Period::parse("2026").expect("year").months(),
            (202601, 202612)
        );
        assert_eq!(
            Period::parse("2026-03").expect("month").months(),
            (202603, 202603)
        );
        assert!(Period::parse("2026-S3").is_none());
        assert!(Period::parse("2026-13").is_none());
        assert!(Period::parse("veinte").is_none());
    }

    #[test]
    fn periods_read_in_spanish() {
        let p = Period::parse("2026-S2").expect("semester");
        assert_eq!(p.label(Lang::Es), "2.º semestre 2026");
        assert_eq!(
            Period::parse("2026-09").expect("month").label(Lang::Es),
            "septiembre 2026"
        );
    }
}
