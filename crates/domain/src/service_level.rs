//! Service levels: the targets for a first response and for resolution, by channel, incident
//! type, critical and topic, counted in the institution's business hours; and each incident's
//! clock — when each target is due and when it warns — computed from what happened to it.
//!
//! Time waiting on a unit does not count against the CAP (the unit has its own target for
//! answering a derivation), nor does time waiting on the person (from the moment staff say so
//! until the person writes again or the incident moves on). The clock is a pure function of the
//! incident's history, so it is computed once when the incident changes and stored as due
//! instants; nothing has to scan open incidents to know which are late.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::business_hours::BusinessCalendar;
use crate::classification::{Channel, IncidentType, coded_enum};
use crate::error::Validator;
use crate::ids::{TopicId, UnitId};
use crate::incident::{Incident, Status};

coded_enum!(
    /// What a target measures.
    Measure {
        FirstResponse = "first_response", "Primera respuesta", "First response";
        Resolution = "resolution", "Resolución", "Resolution";
        UnitAnswer = "unit_answer", "Respuesta de la unidad", "Unit's answer";
    }
);

coded_enum!(
    /// Where a clock stands at a moment.
    ClockState {
        Running = "running", "En tiempo", "On time";
        Warning = "warning", "Por vencer", "Due soon";
        Breached = "breached", "Vencido", "Overdue";
        Paused = "paused", "En pausa", "Paused";
        Met = "met", "Cumplido", "Met";
        Missed = "missed", "Cumplido fuera de tiempo", "Met late";
    }
);

/// One row of targets: the incidents it applies to (a field left empty matches any) and its
/// times in working minutes (empty: no target for that measure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceTarget {
    pub channel: Option<Channel>,
    pub incident_type: Option<IncidentType>,
    pub critical: Option<bool>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub topic_id: Option<TopicId>,
    pub first_response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
}

impl ServiceTarget {
    fn applies_to(&self, i: &Incident) -> bool {
        self.channel.is_none_or(|c| c == i.channel)
            && self
                .incident_type
                .is_none_or(|t| Some(t) == i.incident_type)
            && self.critical.is_none_or(|c| c == i.critical)
            && self.topic_id.is_none_or(|t| Some(t) == i.topic_id)
    }

    /// More conditions, more specific: a topic's row beats a critical one, which beats an
    /// incident type's, which beats a channel's.
    fn specificity(&self) -> u8 {
        u8::from(self.topic_id.is_some()) * 8
            + u8::from(self.critical.is_some()) * 4
            + u8::from(self.incident_type.is_some()) * 2
            + u8::from(self.channel.is_some())
    }
}

/// A unit's own time to answer a derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitTarget {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub unit_id: UnitId,
    pub minutes: i64,
}

/// The targets in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServicePolicy {
    pub targets: Vec<ServiceTarget>,
    /// Share of a target's time after which its clock warns, in percent.
    pub warning_percent: i64,
    /// The same for critical incidents, which escalate sooner.
    pub critical_warning_percent: i64,
    /// A unit's time to answer a derivation, unless it has its own.
    pub unit_answer_minutes: Option<i64>,
    pub unit_targets: Vec<UnitTarget>,
}

/// A working day of the default calendar, in minutes.
const DAY: i64 = 9 * 60;

impl Default for ServicePolicy {
    /// A first answer within a working day (two hours on WhatsApp and social networks, one for
    /// critical incidents); resolution within three working days (five for a complaint, as the
    /// nonconformity criterion; one for a critical incident); units answer within two.
    fn default() -> Self {
        let row = |channel, incident_type, critical, fr, res| ServiceTarget {
            channel,
            incident_type,
            critical,
            topic_id: None,
            first_response_minutes: fr,
            resolution_minutes: res,
        };
        ServicePolicy {
            targets: vec![
                row(None, None, None, Some(DAY), Some(3 * DAY)),
                row(Some(Channel::Whatsapp), None, None, Some(120), None),
                row(Some(Channel::Social), None, None, Some(120), None),
                row(
                    None,
                    Some(IncidentType::Complaint),
                    None,
                    None,
                    Some(5 * DAY),
                ),
                row(None, None, Some(true), Some(60), Some(DAY)),
            ],
            warning_percent: 75,
            critical_warning_percent: 50,
            unit_answer_minutes: Some(2 * DAY),
            unit_targets: Vec::new(),
        }
    }
}

impl ServicePolicy {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        let minutes = |m: Option<i64>| m.is_some_and(|m| !(1..=366 * 24 * 60).contains(&m));
        for (i, t) in self.targets.iter().enumerate() {
            if minutes(t.first_response_minutes) {
                v.push(
                    &format!("targets[{i}].first_response_minutes"),
                    "out_of_range",
                );
            }
            if minutes(t.resolution_minutes) {
                v.push(&format!("targets[{i}].resolution_minutes"), "out_of_range");
            }
        }
        for (i, t) in self.unit_targets.iter().enumerate() {
            if minutes(Some(t.minutes)) {
                v.push(&format!("unit_targets[{i}].minutes"), "out_of_range");
            }
        }
        if minutes(self.unit_answer_minutes) {
            v.push("unit_answer_minutes", "out_of_range");
        }
        for (field, p) in [
            ("warning_percent", self.warning_percent),
            ("critical_warning_percent", self.critical_warning_percent),
        ] {
            if !(1..=99).contains(&p) {
                v.push(field, "out_of_range");
            }
        }
        if self.targets.len() > 200 {
            v.push("targets", "out_of_range");
        }
        v.finish()
    }

    /// The target of a measure for an incident: the most specific row that sets it.
    pub fn minutes_for(&self, i: &Incident, measure: Measure) -> Option<i64> {
        let pick = |t: &ServiceTarget| match measure {
            Measure::FirstResponse => t.first_response_minutes,
            Measure::Resolution => t.resolution_minutes,
            Measure::UnitAnswer => None,
        };
        self.targets
            .iter()
            .filter(|t| t.applies_to(i) && pick(t).is_some())
            .max_by_key(|t| t.specificity())
            .and_then(pick)
    }

    /// A unit's time to answer a derivation.
    pub fn unit_minutes(&self, unit: UnitId) -> Option<i64> {
        self.unit_targets
            .iter()
            .find(|t| t.unit_id == unit)
            .map(|t| t.minutes)
            .or(self.unit_answer_minutes)
    }

    fn warning_percent_for(&self, i: &Incident) -> i64 {
        if i.critical {
            self.critical_warning_percent
        } else {
            self.warning_percent
        }
    }
}

/// Something in an incident's history that starts or stops its resolution clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The status became this.
    Status(Status),
    /// Staff said the incident waits on the person.
    WaitingOnPerson,
    /// The person wrote.
    PersonWrote,
}

/// One measure's clock: when it warns and is due (`None` while paused), and how much working
/// time it had left when it paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Clock {
    pub measure: Measure,
    pub target_minutes: i64,
    pub warn_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// Working minutes left, while paused.
    pub paused_minutes_left: Option<i64>,
    /// When the measure was met (first response, closing, the unit's answer), if it was.
    pub done_at: Option<DateTime<Utc>>,
    /// The unit whose answer it measures (`unit_answer` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub unit_id: Option<UnitId>,
}

impl Clock {
    /// Names the clock among an incident's: its measure, and the unit for a unit's answer (two
    /// derivations to different units are two clocks).
    pub fn key(&self) -> String {
        match self.unit_id {
            Some(unit) => format!("{}:{}", self.measure.code(), unit.0),
            None => self.measure.code().to_string(),
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> ClockState {
        match (self.done_at, self.due_at) {
            (Some(done), Some(due)) if done > due => ClockState::Missed,
            (Some(_), _) => ClockState::Met,
            (None, None) => ClockState::Paused,
            (None, Some(due)) if now >= due => ClockState::Breached,
            (None, Some(_)) if self.warn_at.is_some_and(|w| now >= w) => ClockState::Warning,
            (None, Some(_)) => ClockState::Running,
        }
    }

    /// Working minutes left at `now` (negative once overdue), for the queue's column.
    pub fn minutes_left(&self, now: DateTime<Utc>, cal: &BusinessCalendar, tz: Tz) -> i64 {
        match (self.due_at, self.paused_minutes_left) {
            (_, Some(left)) => left,
            (Some(due), None) if now <= due => cal.minutes_between(now, due, tz),
            (Some(due), None) => -cal.minutes_between(due, now, tz),
            (None, None) => 0,
        }
    }
}

/// Whether a closed incident was resolved within its target: `None` while it is open or
/// when no target applied. What the indicator counts.
pub fn resolved_in_time(clocks: &[Clock]) -> Option<bool> {
    clocks
        .iter()
        .find(|c| c.measure == Measure::Resolution)
        .and_then(|c| match (c.done_at, c.due_at) {
            (Some(done), Some(due)) => Some(done <= due),
            (Some(_), None) => Some(true),
            _ => None,
        })
}

/// The instants an incident's row keeps for the queue's order and the escalation job: the
/// earliest warning and due instant of a measure not yet met.
pub fn pending(clocks: &[Clock]) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let open = clocks.iter().filter(|c| c.done_at.is_none());
    let warn = open.clone().filter_map(|c| c.warn_at).min();
    let due = open.filter_map(|c| c.due_at).min();
    (warn, due)
}

/// The clock a row shows: of those not yet met, the overdue first, then the one due soon,
/// then the running one due first, then a paused one.
pub fn most_urgent(clocks: &[Clock], now: DateTime<Utc>) -> Option<&Clock> {
    let rank = |c: &Clock| match c.state(now) {
        ClockState::Breached => 0,
        ClockState::Warning => 1,
        ClockState::Running => 2,
        _ => 3,
    };
    clocks
        .iter()
        .filter(|c| c.done_at.is_none())
        .min_by_key(|c| (rank(c), c.due_at))
}

/// The clocks of an incident: first response and resolution, where a target applies.
/// `marks` is the history after reception, oldest first.
pub fn clocks(
    i: &Incident,
    marks: &[(DateTime<Utc>, Mark)],
    policy: &ServicePolicy,
    cal: &BusinessCalendar,
    tz: Tz,
) -> Vec<Clock> {
    let mut out = Vec::new();
    let percent = policy.warning_percent_for(i);
    if let Some(target) = policy.minutes_for(i, Measure::FirstResponse) {
        let due_at = cal.add(i.received_at, target, tz);
        out.push(Clock {
            measure: Measure::FirstResponse,
            target_minutes: target,
            warn_at: cal.add(i.received_at, target * percent / 100, tz),
            due_at,
            paused_minutes_left: None,
            done_at: i.first_response_at,
            unit_id: None,
        });
    }
    if let Some(target) = policy.minutes_for(i, Measure::Resolution) {
        out.push(resolution(i, marks, target, percent, cal, tz));
    }
    out
}

/// The resolution clock: working time counts while the incident is open and not waiting on
/// the person, from reception to its last closing.
fn resolution(
    i: &Incident,
    marks: &[(DateTime<Utc>, Mark)],
    target: i64,
    percent: i64,
    cal: &BusinessCalendar,
    tz: Tz,
) -> Clock {
    let warn = target * percent / 100;
    // Counting intervals: [start, end) while counting; the last may be open.
    let mut intervals: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
    let mut status = Status::Open;
    let mut since = Some(i.received_at);
    for (at, mark) in marks {
        // Waiting on the person lasts until the next mark of any kind.
        let waiting = match mark {
            Mark::Status(s) => {
                status = *s;
                false
            }
            Mark::WaitingOnPerson => true,
            Mark::PersonWrote => false,
        };
        let counting = status == Status::Open && !waiting;
        match (since, counting) {
            (Some(start), false) => {
                intervals.push((start, Some(*at)));
                since = None;
            }
            (None, true) => since = Some(*at),
            _ => {}
        }
    }
    let closed = status == Status::Closed;
    if let Some(start) = since {
        intervals.push((start, None));
    }
    // When the counted time reached each threshold, walking the intervals.
    let mut counted = 0;
    let (mut warn_at, mut due_at) = (None, None);
    for (start, end) in &intervals {
        let reach = |threshold: i64| -> Option<DateTime<Utc>> {
            let at = cal.add(*start, threshold - counted, tz)?;
            end.is_none_or(|e| at < e).then_some(at)
        };
        if warn_at.is_none() {
            warn_at = reach(warn);
        }
        if due_at.is_none() {
            due_at = reach(target);
        }
        if let Some(e) = end {
            counted += cal.minutes_between(*start, *e, tz);
        }
    }
    let paused = since.is_none() && !closed && due_at.is_none();
    Clock {
        measure: Measure::Resolution,
        target_minutes: target,
        warn_at,
        // A closed incident that never reached its target was resolved in time: its due
        // instant is past the closing, which is what the state compares.
        due_at: due_at.or_else(|| {
            closed
                .then(|| i.closed_at.and_then(|c| cal.add(c, target - counted, tz)))
                .flatten()
        }),
        paused_minutes_left: paused.then_some((target - counted).max(0)),
        done_at: if closed { i.closed_at } else { None },
        unit_id: None,
    }
}

/// A derivation as its unit's clock sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitWait {
    pub unit_id: UnitId,
    pub derived_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    /// The CAP closed the incident as it derived (the person was sent to the unit): the unit
    /// owes the CAP no answer.
    pub closed_incident: bool,
}

/// The units' own clocks: one per derivation that expects an answer, counted in business hours
/// from the derivation against the unit's time (while the CAP's resolution clock waits). A
/// derivation left unanswered on an incident since closed no longer runs.
pub fn unit_clocks(
    i: &Incident,
    waits: &[UnitWait],
    policy: &ServicePolicy,
    cal: &BusinessCalendar,
    tz: Tz,
) -> Vec<Clock> {
    let percent = policy.warning_percent_for(i);
    waits
        .iter()
        .filter(|w| !w.closed_incident)
        .filter(|w| w.answered_at.is_some() || i.status != Status::Closed)
        .filter_map(|w| {
            let target = policy.unit_minutes(w.unit_id)?;
            Some(Clock {
                measure: Measure::UnitAnswer,
                target_minutes: target,
                warn_at: cal.add(w.derived_at, target * percent / 100, tz),
                due_at: cal.add(w.derived_at, target, tz),
                paused_minutes_left: None,
                done_at: w.answered_at,
                unit_id: Some(w.unit_id),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folio::Folio;
    use chrono::TimeZone;

    const MX: Tz = chrono_tz::America::Mexico_City;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // December 2026: Monday 7 to Friday 11, Monday 14 to Friday 18.
        MX.with_ymd_and_hms(2026, 12, d, h, m, 0)
            .earliest()
            .expect("time")
            .with_timezone(&Utc)
    }

    fn incident(channel: Channel, received: DateTime<Utc>) -> Incident {
        Incident {
            id: crate::ids::IncidentId(1),
            folio: Folio { year: 2026, seq: 1 },
            channel,
            contact_id: None,
            subject: String::new(),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            status: Status::Open,
            assigned_to: None,
            received_at: received,
            first_response_at: None,
            closed_at: None,
            reopened_count: 0,
            created_at: received,
            updated_at: received,
        }
    }

    fn policy() -> ServicePolicy {
        ServicePolicy::default()
    }

    #[test]
    fn each_unit_answers_against_its_own_time_from_the_derivation() {
        let mut i = incident(Channel::Email, at(7, 10, 0));
        let mut policy = policy();
        policy.unit_answer_minutes = Some(2 * DAY);
        policy.unit_targets = vec![UnitTarget {
            unit_id: UnitId(9),
            minutes: 60,
        }];
        let cal = BusinessCalendar::default();
        let wait = |unit, answered_at, closed_incident| UnitWait {
            unit_id: UnitId(unit),
            derived_at: at(7, 17, 30),
            answered_at,
            closed_incident,
        };
        let waits = [
            wait(3, None, false),
            wait(9, Some(at(8, 9, 45)), false),
            wait(4, None, true),
        ];
        let c = unit_clocks(&i, &waits, &policy, &cal, MX);
        assert_eq!(
            c.len(),
            2,
            "the derivation that closed the incident waits on nobody"
        );
        // Two working days from Monday 17:30 (half an hour left that day): Wednesday 17:30.
        assert_eq!(c[0].due_at, Some(at(9, 17, 30)));
        assert_eq!(c[0].key(), "unit_answer:3");
        // The unit with its own hour: 30 minutes on Monday, 30 on Tuesday; answered 15 late.
        assert_eq!(c[1].due_at, Some(at(8, 9, 30)));
        assert_eq!(c[1].state(at(8, 10, 0)), ClockState::Missed);
        // Closed without the unit's answer: its clock stops.
        i.status = Status::Closed;
        let c = unit_clocks(&i, &waits, &policy, &cal, MX);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].unit_id, Some(UnitId(9)));
    }

    fn clock(clocks: &[Clock], m: Measure) -> Clock {
        *clocks.iter().find(|c| c.measure == m).expect("clock")
    }

    #[test]
    fn the_most_specific_target_applies() {
        let p = policy();
        let mut i = incident(Channel::Whatsapp, at(7, 10, 0));
        assert_eq!(p.minutes_for(&i, Measure::FirstResponse), Some(120));
        assert_eq!(p.minutes_for(&i, Measure::Resolution), Some(3 * DAY));
        i.incident_type = Some(IncidentType::Complaint);
        assert_eq!(p.minutes_for(&i, Measure::Resolution), Some(5 * DAY));
        i.critical = true;
        assert_eq!(p.minutes_for(&i, Measure::FirstResponse), Some(60));
        assert_eq!(p.minutes_for(&i, Measure::Resolution), Some(DAY));
        let mut topical = p.clone();
        topical.targets.push(ServiceTarget {
            topic_id: Some(TopicId(4)),
            resolution_minutes: Some(30),
            ..Default::default()
        });
        i.topic_id = Some(TopicId(4));
        assert_eq!(topical.minutes_for(&i, Measure::Resolution), Some(30));
    }

    #[test]
    fn a_first_response_on_friday_afternoon_is_due_on_monday() {
        // WhatsApp, 2 working hours; received Friday 11 December at 17:00.
        let i = incident(Channel::Whatsapp, at(11, 17, 0));
        let c = clock(
            &clocks(&i, &[], &policy(), &BusinessCalendar::default(), MX),
            Measure::FirstResponse,
        );
        assert_eq!(c.due_at, Some(at(14, 10, 0)));
        assert_eq!(
            c.warn_at,
            Some(at(14, 9, 30)),
            "75 % of the time: 90 minutes"
        );
        assert_eq!(c.state(at(12, 12, 0)), ClockState::Running, "Saturday");
        assert_eq!(c.state(at(14, 9, 45)), ClockState::Warning);
        assert_eq!(c.state(at(14, 10, 0)), ClockState::Breached);
    }

    #[test]
    fn a_holiday_moves_the_due_time_past_it() {
        let mut cal = BusinessCalendar::default();
        cal.days_off.push(crate::business_hours::DayOff {
            from: chrono::NaiveDate::from_ymd_opt(2026, 12, 14).expect("date"),
            to: chrono::NaiveDate::from_ymd_opt(2026, 12, 14).expect("date"),
            name: "Asueto".into(),
        });
        let i = incident(Channel::Whatsapp, at(11, 17, 0));
        let c = clock(
            &clocks(&i, &[], &policy(), &cal, MX),
            Measure::FirstResponse,
        );
        assert_eq!(c.due_at, Some(at(15, 10, 0)));
    }

    #[test]
    fn waiting_on_the_person_and_on_a_unit_stop_the_resolution_clock() {
        let cal = BusinessCalendar::default();
        // Email, received Monday 7 at 9:00: 3 working days (27 h) → Wednesday 18:00.
        let mut i = incident(Channel::Email, at(7, 9, 0));
        let fresh = clock(&clocks(&i, &[], &policy(), &cal, MX), Measure::Resolution);
        assert_eq!(fresh.due_at, Some(at(9, 18, 0)));
        // Monday 12:00 the agent asks the person for a document (3 h counted); she answers on
        // Tuesday at 15:00; the clock resumes and has 24 h left: Friday 11 at 12:00.
        let marks = [
            (at(7, 12, 0), Mark::WaitingOnPerson),
            (at(8, 15, 0), Mark::PersonWrote),
        ];
        let c = clock(
            &clocks(&i, &marks, &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!(c.due_at, Some(at(11, 12, 0)));
        // While she has not answered, the clock is paused with 24 working hours left.
        let c = clock(
            &clocks(&i, &marks[..1], &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!((c.due_at, c.paused_minutes_left), (None, Some(24 * 60)));
        assert_eq!(c.state(at(30, 9, 0)), ClockState::Paused);
        // Derived to a unit on Monday at 10:00 and answered on Thursday at 10:00: only 1 h
        // before and the time after the answer count.
        i.status = Status::Open;
        let derived = [
            (at(7, 10, 0), Mark::Status(Status::WaitingUnit)),
            (at(10, 10, 0), Mark::Status(Status::Open)),
        ];
        let c = clock(
            &clocks(&i, &derived, &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!(
            c.due_at,
            Some(at(14, 18, 0)),
            "26 h left from Thursday 10:00"
        );
    }

    #[test]
    fn a_closing_in_time_is_met_and_a_late_one_missed() {
        let cal = BusinessCalendar::default();
        let mut i = incident(Channel::Email, at(7, 9, 0));
        i.status = Status::Closed;
        i.closed_at = Some(at(8, 9, 0));
        let marks = [(at(8, 9, 0), Mark::Status(Status::Closed))];
        let c = clock(
            &clocks(&i, &marks, &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!(c.state(at(30, 9, 0)), ClockState::Met);
        i.closed_at = Some(at(14, 9, 0));
        let marks = [(at(14, 9, 0), Mark::Status(Status::Closed))];
        let c = clock(
            &clocks(&i, &marks, &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!(c.due_at, Some(at(9, 18, 0)));
        assert_eq!(c.state(at(30, 9, 0)), ClockState::Missed);
        // A reopened incident counts on from its reopening.
        i.status = Status::Open;
        i.closed_at = None;
        let marks = [
            (at(8, 9, 0), Mark::Status(Status::Closed)),
            (at(14, 9, 0), Mark::Status(Status::Open)),
        ];
        let c = clock(
            &clocks(&i, &marks, &policy(), &cal, MX),
            Measure::Resolution,
        );
        assert_eq!(
            c.due_at,
            Some(at(15, 18, 0)),
            "9 h used, 18 h left from Monday"
        );
    }

    #[test]
    fn a_row_shows_its_most_urgent_clock() {
        let cal = BusinessCalendar::default();
        let i = incident(Channel::Whatsapp, at(7, 9, 0));
        let both = clocks(&i, &[], &policy(), &cal, MX);
        // First response due at 11:00 (warning at 10:30), resolution on Wednesday.
        let shown = most_urgent(&both, at(7, 10, 45)).expect("a clock");
        assert_eq!(shown.measure, Measure::FirstResponse);
        assert_eq!(shown.state(at(7, 10, 45)), ClockState::Warning);
        let mut answered = i.clone();
        answered.first_response_at = Some(at(7, 9, 5));
        let rest = clocks(&answered, &[], &policy(), &cal, MX);
        let shown = most_urgent(&rest, at(7, 12, 0)).expect("a clock");
        assert_eq!(shown.measure, Measure::Resolution);
        assert_eq!(shown.minutes_left(at(7, 12, 0), &cal, MX), 24 * 60);
    }

    #[test]
    fn critical_incidents_warn_sooner() {
        let cal = BusinessCalendar::default();
        let mut i = incident(Channel::Phone, at(7, 9, 0));
        i.critical = true;
        let c = clock(
            &clocks(&i, &[], &policy(), &cal, MX),
            Measure::FirstResponse,
        );
        assert_eq!(
            (c.warn_at, c.due_at),
            (Some(at(7, 9, 30)), Some(at(7, 10, 0)))
        );
    }

    #[test]
    fn units_have_their_own_time_to_answer() {
        let mut p = policy();
        p.unit_targets.push(UnitTarget {
            unit_id: UnitId(3),
            minutes: 60,
        });
        assert_eq!(p.unit_minutes(UnitId(3)), Some(60));
        assert_eq!(p.unit_minutes(UnitId(4)), Some(2 * DAY));
        assert!(p.check().is_ok());
        p.warning_percent = 100;
        assert!(p.check().is_err());
    }
}
