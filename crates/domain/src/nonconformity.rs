//! Nonconformities (producto no conforme, PNC): the criteria the quality owner enables and
//! tunes (measured in the institution's business days, `business_hours`), and the register's
//! record of disposition, corrective action and effectiveness.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::business_hours::BusinessCalendar;
use crate::classification::coded_enum;
use crate::error::Validator;
use crate::incident::{Status, TimelineEntry};

coded_enum!(
    /// Why an incident was registered as nonconforming.
    Criterion {
        ComplaintNotClosed = "complaint_not_closed", "Queja sin cerrar en el plazo", "Complaint not closed in time";
        LowSurveyScore = "low_survey_score", "Encuesta con calificación baja", "Low survey score";
        ClosedIncomplete = "closed_incomplete", "Cerrado sin los datos requeridos", "Closed without the required data";
        DerivationUnanswered = "derivation_unanswered", "Derivación sin respuesta de la unidad", "Derivation not answered by the unit";
        ReopenedSoon = "reopened_soon", "Reabierto poco después de cerrarse", "Reopened soon after closing";
        ServiceLevelBreached = "service_level_breached", "Tiempo comprometido vencido", "Service level breached";
        Manual = "manual", "Registrado por el personal", "Registered by staff";
    }
);

coded_enum!(
    NcStatus {
        Open = "open", "Abierta", "Open";
        InTreatment = "in_treatment", "En tratamiento", "In treatment";
        Closed = "closed", "Cerrada", "Closed";
    }
);

/// The criteria in force; `None` turns one off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Criteria {
    /// A complaint not closed within this many business days.
    pub complaint_business_days: Option<i64>,
    /// A survey whose overall score is at or below this.
    pub low_survey_score: Option<i64>,
    /// An incident closed without channel, user type, incident type or intervention notes.
    pub closed_incomplete: bool,
    /// A derivation the unit has not answered after this many days.
    pub derivation_days: Option<i64>,
    /// An incident reopened within this many days of being closed.
    pub reopened_days: Option<i64>,
    /// An incident whose resolution target was breached (the service level's clock).
    pub service_level_breached: bool,
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria {
            complaint_business_days: Some(5),
            low_survey_score: Some(2),
            closed_incomplete: true,
            derivation_days: Some(5),
            reopened_days: Some(7),
            service_level_breached: false,
        }
    }
}

impl Criteria {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        let mut range = |field: &str, value: Option<i64>, max: i64| {
            if value.is_some_and(|n| !(0..=max).contains(&n)) {
                v.push(field, "out_of_range");
            }
        };
        range("complaint_business_days", self.complaint_business_days, 365);
        range("low_survey_score", self.low_survey_score, 5);
        range("derivation_days", self.derivation_days, 365);
        range("reopened_days", self.reopened_days, 365);
        v.finish()
    }

    /// A complaint received at `received` and closed at `closed` (or still open at `now`) is
    /// late when more business days passed than allowed.
    pub fn complaint_late(
        &self,
        received: DateTime<Utc>,
        closed: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        calendar: &BusinessCalendar,
        tz: Tz,
    ) -> bool {
        self.complaint_business_days.is_some_and(|limit| {
            calendar.business_days_between(received, closed.unwrap_or(now), tz) > limit
        })
    }

    /// Whether the timeline shows a reopening within the window after a closing.
    pub fn reopened_soon(&self, timeline: &[TimelineEntry]) -> bool {
        let Some(days) = self.reopened_days else {
            return false;
        };
        let mut closed_at = None;
        for (at, (from, to)) in timeline
            .iter()
            .filter_map(|e| e.status_change().map(|c| (e.at, c)))
        {
            if to == Status::Closed {
                closed_at = Some(at);
            } else if from == Status::Closed
                && closed_at.is_some_and(|c| at <= c + Duration::days(days))
            {
                return true;
            }
        }
        false
    }
}

/// The fields of a register entry the staff edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NonconformityInput {
    pub description: String,
    /// Disposition (tratamiento): what is done with the nonconforming output itself.
    pub disposition: String,
    pub corrective_action: String,
    pub responsible: String,
    /// The person of the console who answers for it (told when given it).
    pub responsible_user: Option<crate::ids::UserId>,
    pub due_date: Option<NaiveDate>,
    /// How and when the corrective action was checked to work.
    pub effectiveness: String,
    pub status: Option<NcStatus>,
}

impl NonconformityInput {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        v.text("description", &self.description, 4000, true);
        v.text("disposition", &self.disposition, 4000, false);
        v.text("corrective_action", &self.corrective_action, 4000, false);
        v.text("responsible", &self.responsible, 200, false);
        v.text("effectiveness", &self.effectiveness, 4000, false);
        // Closing a nonconformity needs its treatment and the check that it worked.
        if self.status == Some(NcStatus::Closed) {
            if self.corrective_action.trim().is_empty() && self.disposition.trim().is_empty() {
                v.push("corrective_action", "required_to_close");
            }
            if self.effectiveness.trim().is_empty() {
                v.push("effectiveness", "required_to_close");
            }
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TZ: Tz = crate::DEFAULT_TIME_ZONE;

    fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("local time")
            .with_timezone(&Utc)
    }

    #[test]
    fn business_days_skip_weekends_and_the_calendars_days_off() {
        let mut cal = BusinessCalendar::default();
        let holiday = NaiveDate::from_ymd_opt(2026, 11, 16).expect("date");
        cal.days_off.push(crate::business_hours::DayOff {
            from: holiday,
            to: holiday,
            name: "Revolución".into(),
        });
        // Monday 9 Nov → Friday 13 Nov: 4 business days.
        assert_eq!(
            cal.business_days_between(local(2026, 11, 9, 10), local(2026, 11, 13, 18), TZ),
            4
        );
        // Friday 13 → Tuesday 17, with Monday 16 a holiday: 1.
        assert_eq!(
            cal.business_days_between(local(2026, 11, 13, 10), local(2026, 11, 17, 9), TZ),
            1
        );
    }

    #[test]
    fn a_complaint_is_late_after_the_allowed_business_days() {
        let c = Criteria::default();
        let received = local(2026, 11, 2, 10);
        assert!(!c.complaint_late(
            received,
            Some(local(2026, 11, 9, 10)),
            received,
            &BusinessCalendar::default(),
            TZ
        ));
        assert!(c.complaint_late(
            received,
            Some(local(2026, 11, 10, 10)),
            received,
            &BusinessCalendar::default(),
            TZ
        ));
        assert!(c.complaint_late(
            received,
            None,
            local(2026, 11, 12, 10),
            &BusinessCalendar::default(),
            TZ
        ));
        let off = Criteria {
            complaint_business_days: None,
            ..Default::default()
        };
        assert!(!off.complaint_late(
            received,
            None,
            local(2027, 1, 1, 10),
            &BusinessCalendar::default(),
            TZ
        ));
    }

    #[test]
    fn closing_a_nonconformity_needs_its_treatment_and_effectiveness_check() {
        let mut input = NonconformityInput {
            description: "Queja atendida fuera de plazo".into(),
            status: Some(NcStatus::Closed),
            ..Default::default()
        };
        let err = input.check().expect_err("incomplete");
        let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["corrective_action", "effectiveness"]);
        input.corrective_action = "Se reforzó la guardia telefónica".into();
        input.effectiveness = "Sin quejas fuera de plazo en dos meses".into();
        assert!(input.check().is_ok());
    }
}
