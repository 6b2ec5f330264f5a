//! Indicator definitions that depend only on an incident's own history (SPEC "Definitions").

use chrono::Duration;

use crate::incident::{EntryKind, Incident, Status, TimelineEntry};

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
}
