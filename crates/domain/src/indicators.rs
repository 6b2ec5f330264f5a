//! The quality system's indicators (SPEC "Quality indicators" and "Definitions"): what each
//! one measures, the facts one incident contributes to them, and how a period's rollup turns
//! into values compared with their targets.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::classification::{Lang, coded_enum};
use crate::incident::{EntryKind, Incident, Status, TimelineEntry};
use crate::period::Periodicity;

/// Default window after closing in which a reopening cancels first-contact resolution.
pub const DEFAULT_REOPEN_WINDOW_DAYS: i64 = 7;

/// First-contact resolution: closed by the CAP without any derivation, and not reopened within
/// `window_days` of the first closing. Derived from the timeline alone.
pub fn first_contact_resolution(
    incident: &Incident,
    timeline: &[TimelineEntry],
    window_days: i64,
) -> bool {
    if incident.status != Status::Closed || timeline.iter().any(|e| e.kind == EntryKind::Derivation)
    {
        return false;
    }
    // The timeline is in order; entries written in the same millisecond keep that order, so
    // sequence (not only time) tells whether a reopening came after the first closing.
    let mut first_close = None;
    for (at, (from, to)) in timeline
        .iter()
        .filter_map(|e| e.status_change().map(|c| (e.at, c)))
    {
        match first_close {
            None if to == Status::Closed => first_close = Some(at),
            Some(closed)
                if from == Status::Closed && at <= closed + Duration::days(window_days) =>
            {
                return false;
            }
            _ => {}
        }
    }
    first_close.is_some()
}

/// The rollup counters one incident adds to its month (and to each breakdown it falls in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub incidents: i64,
    pub closed: i64,
    /// Closed at first contact (see [`first_contact_resolution`]).
    pub fcr: i64,
    pub derived: i64,
    pub complaints: i64,
    pub surveys_sent: i64,
    pub surveys_answered: i64,
    /// Answered surveys with an overall score of 4 or 5.
    pub satisfied: i64,
    /// Sum of overall scores, for the mean.
    pub score_sum: i64,
    /// Nonconformities detected in the period (counted from the register, not per incident).
    #[serde(default)]
    pub nonconformities: i64,
    /// Closed incidents that had a resolution target, and those closed within it.
    #[serde(default)]
    pub resolution_measured: i64,
    #[serde(default)]
    pub resolution_in_time: i64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.incidents += o.incidents;
        self.closed += o.closed;
        self.fcr += o.fcr;
        self.derived += o.derived;
        self.complaints += o.complaints;
        self.surveys_sent += o.surveys_sent;
        self.surveys_answered += o.surveys_answered;
        self.satisfied += o.satisfied;
        self.score_sum += o.score_sum;
        self.nonconformities += o.nonconformities;
        self.resolution_measured += o.resolution_measured;
        self.resolution_in_time += o.resolution_in_time;
    }

    pub fn negated(&self) -> Counters {
        Counters {
            incidents: -self.incidents,
            closed: -self.closed,
            fcr: -self.fcr,
            derived: -self.derived,
            complaints: -self.complaints,
            surveys_sent: -self.surveys_sent,
            surveys_answered: -self.surveys_answered,
            satisfied: -self.satisfied,
            score_sum: -self.score_sum,
            nonconformities: -self.nonconformities,
            resolution_measured: -self.resolution_measured,
            resolution_in_time: -self.resolution_in_time,
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

coded_enum!(
    /// What a rollup row is broken down by; `Total` is the whole month.
    Dimension {
        Total = "total", "Total", "Total";
        Channel = "channel", "Medio", "Channel";
        UserType = "user_type", "Tipo de usuario", "User type";
        IncidentType = "incident_type", "Tipo de incidencia", "Incident type";
        Topic = "topic", "Tema", "Topic";
        Unit = "unit", "Unidad", "Unit";
        Agent = "agent", "Agente", "Agent";
    }
);

coded_enum!(
    /// Durations kept as histograms for medians and percentiles.
    DurationMetric {
        FirstResponse = "first_response", "Tiempo a la primera respuesta", "Time to first response";
        Close = "close", "Tiempo al cierre", "Time to close";
    }
);

/// What one incident contributes to the indicators of the month it was received in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// `yyyymm` of reception, in the institution's time zone.
    pub month: i64,
    pub channel: String,
    pub user_type: Option<String>,
    pub incident_type: Option<String>,
    pub topic_id: Option<i64>,
    /// The unit of the latest derivation.
    pub unit_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub counters: Counters,
    /// Milliseconds from reception to the first response, and to the (last) closing.
    pub first_response_ms: Option<i64>,
    pub close_ms: Option<i64>,
}

impl IncidentFacts {
    /// The rollup rows this incident counts in: the month's total and one per breakdown.
    pub fn keys(&self) -> Vec<(Dimension, String)> {
        let mut keys = vec![
            (Dimension::Total, String::new()),
            (Dimension::Channel, self.channel.clone()),
        ];
        let mut push = |d, v: Option<String>| keys.push((d, v.unwrap_or_default()));
        push(Dimension::UserType, self.user_type.clone());
        push(Dimension::IncidentType, self.incident_type.clone());
        push(Dimension::Topic, self.topic_id.map(|t| t.to_string()));
        push(Dimension::Unit, self.unit_id.map(|t| t.to_string()));
        push(Dimension::Agent, self.agent_id.map(|t| t.to_string()));
        keys
    }

    pub fn durations(&self) -> Vec<(DurationMetric, i64)> {
        [
            (DurationMetric::FirstResponse, self.first_response_ms),
            (DurationMetric::Close, self.close_ms),
        ]
        .into_iter()
        .filter_map(|(m, d)| d.map(|d| (m, duration_bucket(d))))
        .collect()
    }
}

/// Durations are kept in minutes: to the minute for two days, then to ten minutes for a month,
/// then to the hour. Percentiles are exact at that resolution.
pub fn duration_bucket(ms: i64) -> i64 {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        m if m < 2 * 24 * 60 => m,
        m if m < 30 * 24 * 60 => m - m % 10,
        m => m - m % 60,
    }
}

/// The p-th percentile (0 < p <= 100) of a histogram of `(value, count)` sorted by value, by
/// the nearest-rank method: the smallest value with at least p % of the observations at or
/// below it.
pub fn percentile(histogram: &[(i64, i64)], p: f64) -> Option<i64> {
    let total = observations(histogram);
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as i64;
    at_rank(histogram, rank)
}

/// The statistical median of a histogram of `(value, count)` sorted by value: the middle
/// observation, or the mean of the two middle ones when their number is even — what a
/// spreadsheet's MEDIAN gives, which the quality office checks the figures against.
pub fn median(histogram: &[(i64, i64)]) -> Option<f64> {
    let total = observations(histogram);
    if total == 0 {
        return None;
    }
    let lower = at_rank(histogram, (total + 1) / 2)?;
    let upper = at_rank(histogram, total / 2 + 1)?;
    Some((lower + upper) as f64 / 2.0)
}

fn observations(histogram: &[(i64, i64)]) -> i64 {
    histogram.iter().map(|(_, n)| (*n).max(0)).sum()
}

/// The value of the observation at `rank` (1 = the smallest).
fn at_rank(histogram: &[(i64, i64)], rank: i64) -> Option<i64> {
    let mut seen = 0;
    for (value, n) in histogram {
        seen += (*n).max(0);
        if seen >= rank {
            return Some(*value);
        }
    }
    histogram.last().map(|(v, _)| *v)
}

coded_enum!(
    /// The built-in indicators.
    IndicatorKind {
        SatisfactionIndex = "satisfaction_index", "Índice de satisfacción", "Satisfaction index";
        SurveyResponseRate = "survey_response_rate", "Tasa de respuesta de encuestas", "Survey response rate";
        FirstContactResolution = "first_contact_resolution", "Resolución al primer contacto", "First-contact resolution";
        WithinServiceLevel = "within_service_level", "Atendido dentro del tiempo comprometido", "Resolved within the service level";
        DerivationRate = "derivation_rate", "Tasa de derivación", "Derivation rate";
        FirstResponseMedian = "first_response_median", "Primera respuesta (mediana)", "First response (median)";
        FirstResponseP90 = "first_response_p90", "Primera respuesta (percentil 90)", "First response (90th percentile)";
        CloseMedian = "close_median", "Tiempo al cierre (mediana)", "Time to close (median)";
        CloseP90 = "close_p90", "Tiempo al cierre (percentil 90)", "Time to close (90th percentile)";
        Complaints = "complaints", "Quejas", "Complaints";
        Nonconformities = "nonconformities", "Productos no conformes", "Nonconformities";
        Incidents = "incidents", "Incidentes recibidos", "Incidents received";
    }
);

/// How a value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Hours,
    Count,
}

impl IndicatorKind {
    pub fn unit(self) -> Unit {
        use IndicatorKind::*;
        match self {
            SatisfactionIndex
            | SurveyResponseRate
            | FirstContactResolution
            | WithinServiceLevel
            | DerivationRate => Unit::Percent,
            FirstResponseMedian | FirstResponseP90 | CloseMedian | CloseP90 => Unit::Hours,
            Complaints | Incidents | Nonconformities => Unit::Count,
        }
    }

    /// Whether meeting the target means being at or above it (else at or below).
    pub fn higher_is_better(self) -> bool {
        use IndicatorKind::*;
        matches!(
            self,
            SatisfactionIndex
                | SurveyResponseRate
                | FirstContactResolution
                | WithinServiceLevel
                | Incidents
        )
    }

    /// What the indicator measures, in the procedure's words.
    pub fn definition(self, lang: Lang) -> &'static str {
        use IndicatorKind::*;
        match (self, lang) {
            (SatisfactionIndex, Lang::Es) => {
                "Encuestas respondidas con satisfacción general de 4 o 5, entre encuestas respondidas (%)."
            }
            (SurveyResponseRate, Lang::Es) => "Encuestas respondidas entre encuestas enviadas (%).",
            (FirstContactResolution, Lang::Es) => {
                "Incidentes cerrados por el CAP sin derivar y sin reabrir en la ventana, entre incidentes cerrados (%)."
            }
            (WithinServiceLevel, Lang::Es) => {
                "Incidentes cerrados dentro de su tiempo comprometido de resolución, entre los cerrados que tenían uno (%). El tiempo corre en horario hábil y se detiene mientras el incidente espera a una unidad o al usuario."
            }
            (WithinServiceLevel, Lang::En) => {
                "Incidents closed within their resolution target, over those closed that had one (%). Time runs in business hours and stops while the incident waits on a unit or on the person."
            }
            (DerivationRate, Lang::Es) => {
                "Incidentes derivados a una unidad entre incidentes recibidos (%)."
            }
            (FirstResponseMedian, Lang::Es) => {
                "Horas de la recepción a la primera respuesta o intervención registrada. Mediana: el valor central; con un número par de incidentes, el promedio de los dos centrales (como MEDIANA en una hoja de cálculo)."
            }
            (FirstResponseP90, Lang::Es) => {
                "Horas de la recepción a la primera respuesta o intervención registrada. Percentil 90 por rango más cercano: el menor tiempo en o por debajo del cual queda al menos el 90 % de los incidentes."
            }
            (CloseMedian, Lang::Es) => {
                "Horas de la recepción al cierre. Mediana: el valor central; con un número par de incidentes, el promedio de los dos centrales (como MEDIANA en una hoja de cálculo)."
            }
            (CloseP90, Lang::Es) => {
                "Horas de la recepción al cierre. Percentil 90 por rango más cercano: el menor tiempo en o por debajo del cual queda al menos el 90 % de los incidentes."
            }
            (Complaints, Lang::Es) => "Quejas recibidas en el periodo.",
            (Nonconformities, Lang::Es) => {
                "Productos no conformes registrados en el periodo (automáticos y a mano)."
            }
            (Nonconformities, Lang::En) => {
                "Nonconformities registered in the period (automatic and by hand)."
            }
            (Incidents, Lang::Es) => "Incidentes recibidos en el periodo.",
            (SatisfactionIndex, Lang::En) => {
                "Answered surveys with overall satisfaction 4 or 5, over answered surveys (%)."
            }
            (SurveyResponseRate, Lang::En) => "Answered surveys over surveys sent (%).",
            (FirstContactResolution, Lang::En) => {
                "Incidents closed by the CAP without derivation nor reopening in the window, over closed incidents (%)."
            }
            (DerivationRate, Lang::En) => {
                "Incidents derived to a unit over incidents received (%)."
            }
            (FirstResponseMedian, Lang::En) => {
                "Hours from reception to the first answer or intervention recorded. Median: the middle value; with an even number of incidents, the mean of the two middle ones (as a spreadsheet's MEDIAN)."
            }
            (FirstResponseP90, Lang::En) => {
                "Hours from reception to the first answer or intervention recorded. 90th percentile by nearest rank: the shortest time at or below which at least 90 % of the incidents fall."
            }
            (CloseMedian, Lang::En) => {
                "Hours from reception to closing. Median: the middle value; with an even number of incidents, the mean of the two middle ones (as a spreadsheet's MEDIAN)."
            }
            (CloseP90, Lang::En) => {
                "Hours from reception to closing. 90th percentile by nearest rank: the shortest time at or below which at least 90 % of the incidents fall."
            }
            (Complaints, Lang::En) => "Complaints received in the period.",
            (Incidents, Lang::En) => "Incidents received in the period.",
        }
    }

    /// The value over a period's total counters and duration histograms (minutes).
    pub fn value(
        self,
        c: &Counters,
        first_response: &[(i64, i64)],
        close: &[(i64, i64)],
    ) -> Option<f64> {
        use IndicatorKind::*;
        let pct = |n: i64, d: i64| (d > 0).then(|| 100.0 * n as f64 / d as f64);
        let hours = |m: Option<i64>| m.map(|m| m as f64 / 60.0);
        let median_hours = |h: &[(i64, i64)]| median(h).map(|m| m / 60.0);
        match self {
            SatisfactionIndex => pct(c.satisfied, c.surveys_answered),
            SurveyResponseRate => pct(c.surveys_answered, c.surveys_sent),
            FirstContactResolution => pct(c.fcr, c.closed),
            WithinServiceLevel => pct(c.resolution_in_time, c.resolution_measured),
            DerivationRate => pct(c.derived, c.incidents),
            FirstResponseMedian => median_hours(first_response),
            FirstResponseP90 => hours(percentile(first_response, 90.0)),
            CloseMedian => median_hours(close),
            CloseP90 => hours(percentile(close, 90.0)),
            Complaints => Some(c.complaints as f64),
            Nonconformities => Some(c.nonconformities as f64),
            Incidents => Some(c.incidents as f64),
        }
    }
}

/// A target the quality owner set for an indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Target {
    pub indicator: IndicatorKind,
    /// The meta: a percentage, hours or a count, as the indicator reads.
    pub target: f64,
    pub periodicity: Periodicity,
    pub responsible: String,
}

impl Target {
    pub fn met_by(&self, value: f64) -> bool {
        if self.indicator.higher_is_better() {
            value >= self.target
        } else {
            value <= self.target
        }
    }
}

/// The targets in force; an indicator has at most one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Targets {
    pub targets: Vec<Target>,
}

impl Targets {
    pub fn of(&self, kind: IndicatorKind) -> Option<&Target> {
        self.targets.iter().find(|t| t.indicator == kind)
    }

    pub fn set(&mut self, target: Target) {
        self.targets.retain(|t| t.indicator != target.indicator);
        self.targets.push(target);
    }

    /// A meta is a number the indicator can reach (a percentage at most 100), one per
    /// indicator, with a responsible's name of reasonable length.
    pub fn check(&self) -> Result<(), crate::RuleError> {
        let mut v = crate::error::Validator::new();
        for (n, t) in self.targets.iter().enumerate() {
            let field = |name: &str| format!("targets[{n}].{name}");
            let ceiling = match t.indicator.unit() {
                Unit::Percent => 100.0,
                Unit::Hours | Unit::Count => f64::MAX,
            };
            if !t.target.is_finite() || t.target < 0.0 || t.target > ceiling {
                v.push(&field("target"), "out_of_range");
            }
            if self.targets[..n].iter().any(|o| o.indicator == t.indicator) {
                v.push(&field("indicator"), "duplicate");
            }
            v.text(&field("responsible"), &t.responsible, 200, false);
        }
        v.finish()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::classification::Channel;
    use crate::folio::Folio;
    use crate::ids::{ContactId, EntryId, IncidentId};
    use chrono::{DateTime, TimeZone, Utc};

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, day, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn entry(kind: EntryKind, at: DateTime<Utc>, from: &str, to: &str) -> TimelineEntry {
        TimelineEntry {
            id: EntryId(0),
            incident_id: IncidentId(1),
            kind,
            at,
            author_id: None,
            body: String::new(),
            data: serde_json::json!({ "from": from, "to": to }),
        }
    }

    fn closed() -> Incident {
        Incident {
            id: IncidentId(1),
            folio: Folio { year: 2026, seq: 1 },
            channel: Channel::Phone,
            contact_id: Some(ContactId(1)),
            subject: String::new(),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            status: Status::Closed,
            assigned_to: None,
            received_at: t(1),
            first_response_at: None,
            closed_at: Some(t(1)),
            reopened_count: 0,
            created_at: t(1),
            updated_at: t(1),
        }
    }

    #[test]
    fn a_target_out_of_its_range_or_given_twice_is_refused() {
        let target = |indicator, value| Target {
            indicator,
            target: value,
            periodicity: Periodicity::Semester,
            responsible: "Coordinación".into(),
        };
        let ok = Targets {
            targets: vec![
                target(IndicatorKind::SatisfactionIndex, 90.0),
                target(IndicatorKind::CloseMedian, 240.0),
            ],
        };
        assert!(ok.check().is_ok());
        let wrong = Targets {
            targets: vec![
                target(IndicatorKind::SatisfactionIndex, 120.0),
                target(IndicatorKind::Complaints, -1.0),
                target(IndicatorKind::Complaints, 3.0),
            ],
        };
        let crate::RuleError::Invalid(fields) = wrong.check().expect_err("refused") else {
            panic!("a validation error")
        };
        let named: Vec<_> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("targets[0].target", "out_of_range"),
                ("targets[1].target", "out_of_range"),
                ("targets[2].indicator", "duplicate"),
            ]
        );
    }

    #[test]
    fn an_incident_closed_without_derivation_is_resolved_at_first_contact() {
        let tl = [entry(EntryKind::StatusChange, t(1), "open", "closed")];
        assert!(first_contact_resolution(&closed(), &tl, 7));
    }

    #[test]
    fn a_derivation_means_it_was_not_resolved_at_first_contact() {
        let tl = [
            entry(EntryKind::Derivation, t(1), "", ""),
            entry(EntryKind::StatusChange, t(1), "open", "closed"),
        ];
        assert!(!first_contact_resolution(&closed(), &tl, 7));
    }

    #[test]
    fn a_reopening_recorded_in_the_same_millisecond_as_the_closing_still_counts() {
        let tl = [
            entry(EntryKind::StatusChange, t(1), "open", "closed"),
            entry(EntryKind::StatusChange, t(1), "closed", "open"),
            entry(EntryKind::StatusChange, t(1), "open", "closed"),
        ];
        assert!(!first_contact_resolution(&closed(), &tl, 7));
    }

    #[test]
    fn reopening_within_the_window_cancels_first_contact_resolution_but_later_does_not() {
        let close = entry(EntryKind::StatusChange, t(1), "open", "closed");
        let reclose = entry(EntryKind::StatusChange, t(20), "open", "closed");
        let soon = [
            close.clone(),
            entry(EntryKind::StatusChange, t(5), "closed", "open"),
            reclose.clone(),
        ];
        assert!(!first_contact_resolution(&closed(), &soon, 7));
        let late = [
            close,
            entry(EntryKind::StatusChange, t(15), "closed", "open"),
            reclose,
        ];
        assert!(first_contact_resolution(&closed(), &late, 7));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_two_middle_values() {
        // Eight times to close: 0.5, 1, 1.5, 2, 2.5, 3, 4 and 10 hours, in minutes.
        let h = [
            (30, 1),
            (60, 1),
            (90, 1),
            (120, 1),
            (150, 1),
            (180, 1),
            (240, 1),
            (600, 1),
        ];
        assert_eq!(median(&h), Some(135.0), "2.25 h, as a spreadsheet's MEDIAN");
        let c = Counters::default();
        assert_eq!(IndicatorKind::CloseMedian.value(&c, &[], &h), Some(2.25));
        assert_eq!(
            median(&[(1, 1), (2, 1), (3, 1)]),
            Some(2.0),
            "odd: the middle one"
        );
        assert_eq!(median(&[(5, 2), (60, 2)]), Some(32.5), "repeated values");
        assert_eq!(median(&[(7, 1)]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        // 1, 2, 3, 4, 10 minutes.
        let h = [(1, 1), (2, 1), (3, 1), (4, 1), (10, 1)];
        assert_eq!(percentile(&h, 50.0), Some(3));
        assert_eq!(percentile(&h, 90.0), Some(10));
        // 20 observations: 18 at 5 minutes, 2 at 60.
        let h = [(5, 18), (60, 2)];
        assert_eq!(percentile(&h, 90.0), Some(5));
        assert_eq!(percentile(&h, 95.0), Some(60));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn durations_are_kept_to_the_minute_then_coarser() {
        assert_eq!(duration_bucket(59_999), 0);
        assert_eq!(duration_bucket(90 * 60_000 + 59_000), 90);
        assert_eq!(duration_bucket((3 * 24 * 60 + 7) * 60_000), 3 * 24 * 60);
        assert_eq!(duration_bucket((40 * 24 * 60 + 59) * 60_000), 40 * 24 * 60);
    }

    #[test]
    fn rates_divide_by_what_they_are_rates_of() {
        let c = Counters {
            incidents: 10,
            closed: 8,
            fcr: 6,
            derived: 2,
            complaints: 1,
            surveys_sent: 5,
            surveys_answered: 4,
            satisfied: 3,
            score_sum: 16,
            nonconformities: 0,
            resolution_measured: 8,
            resolution_in_time: 6,
        };
        let v = |k: IndicatorKind| k.value(&c, &[(30, 1), (90, 1)], &[]);
        assert_eq!(v(IndicatorKind::WithinServiceLevel), Some(75.0));
        assert_eq!(v(IndicatorKind::SatisfactionIndex), Some(75.0));
        assert_eq!(v(IndicatorKind::SurveyResponseRate), Some(80.0));
        assert_eq!(v(IndicatorKind::FirstContactResolution), Some(75.0));
        assert_eq!(v(IndicatorKind::DerivationRate), Some(20.0));
        assert_eq!(
            v(IndicatorKind::FirstResponseMedian),
            Some(1.0),
            "30 and 90 min"
        );
        assert_eq!(v(IndicatorKind::CloseMedian), None);
        assert_eq!(
            IndicatorKind::SatisfactionIndex.value(&Counters::default(), &[], &[]),
            None,
            "no answers, no index"
        );
    }

    #[test]
    fn a_target_is_met_from_the_right_side() {
        let t = |indicator, target| Target {
            indicator,
            target,
            periodicity: Periodicity::Semester,
            responsible: "Calidad".into(),
        };
        assert!(t(IndicatorKind::SatisfactionIndex, 90.0).met_by(92.0));
        assert!(!t(IndicatorKind::SatisfactionIndex, 90.0).met_by(89.9));
        assert!(t(IndicatorKind::CloseMedian, 24.0).met_by(20.0));
        assert!(!t(IndicatorKind::Complaints, 5.0).met_by(6.0));
    }
}
