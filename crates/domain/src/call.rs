//! Phone calls reported by the telephone system (CTI), in the shape of Zammad's generic CTI
//! API: `newCall`, `answer`, `hangup`. A call that rang at the CAP and was never answered is
//! missed and waits for someone to call back.

use serde::{Deserialize, Serialize};

use crate::classification::coded_enum;

coded_enum!(
    CallDirection {
        In = "in", "Entrante", "Incoming";
        Out = "out", "Saliente", "Outgoing";
    }
);

coded_enum!(
    CallState {
        Ringing = "ringing", "Sonando", "Ringing";
        Answered = "answered", "En curso", "In progress";
        Ended = "ended", "Terminada", "Ended";
    }
);

coded_enum!(
    /// Why a call ended, in the CTI API's words.
    HangupCause {
        NormalClearing = "normalClearing", "Terminada", "Ended normally";
        Busy = "busy", "Ocupado", "Busy";
        Cancel = "cancel", "Colgó antes de ser atendida", "Caller hung up";
        NoAnswer = "noAnswer", "Sin respuesta", "No answer";
        Congestion = "congestion", "Congestión", "Congestion";
        NotFound = "notFound", "Número no encontrado", "Not found";
        Forwarded = "forwarded", "Desviada", "Forwarded";
    }
);

/// One event from the telephone system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    NewCall,
    Answer,
    Hangup(Option<HangupCause>),
}

impl CallEvent {
    /// Reads the `event` field (and `cause` for a hangup); `None` for an unknown event.
    pub fn parse(event: &str, cause: Option<&str>) -> Option<CallEvent> {
        match event {
            "newCall" => Some(CallEvent::NewCall),
            "answer" => Some(CallEvent::Answer),
            "hangup" => Some(CallEvent::Hangup(cause.and_then(HangupCause::from_code))),
            _ => None,
        }
    }
}

impl CallState {
    /// The state after an event. Events may arrive twice or out of order (a hangup before
    /// the answer was reported): a call never goes back to ringing, and an ended call stays
    /// ended.
    pub fn after(self, event: CallEvent) -> CallState {
        match (self, event) {
            (CallState::Ended, _) => CallState::Ended,
            (_, CallEvent::Hangup(_)) => CallState::Ended,
            (_, CallEvent::Answer) => CallState::Answered,
            (state, CallEvent::NewCall) => state,
        }
    }
}

/// An incoming call that ended without anyone at the CAP answering it; forwarded calls were
/// answered elsewhere.
pub fn is_missed(direction: CallDirection, answered: bool, cause: Option<HangupCause>) -> bool {
    direction == CallDirection::In && !answered && cause != Some(HangupCause::Forwarded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_moves_from_ringing_to_answered_to_ended_and_stays_ended() {
        let s = CallState::Ringing.after(CallEvent::Answer);
        assert_eq!(s, CallState::Answered);
        let s = s.after(CallEvent::Hangup(Some(HangupCause::NormalClearing)));
        assert_eq!(s, CallState::Ended);
        assert_eq!(s.after(CallEvent::Answer), CallState::Ended);
        assert_eq!(
            CallState::Answered.after(CallEvent::NewCall),
            CallState::Answered
        );
    }

    #[test]
    fn unanswered_incoming_calls_are_missed_unless_forwarded() {
        assert!(is_missed(
            CallDirection::In,
            false,
            Some(HangupCause::Cancel)
        ));
        assert!(is_missed(CallDirection::In, false, Some(HangupCause::Busy)));
        assert!(!is_missed(
            CallDirection::In,
            false,
            Some(HangupCause::Forwarded)
        ));
        assert!(!is_missed(CallDirection::In, true, None));
        assert!(!is_missed(
            CallDirection::Out,
            false,
            Some(HangupCause::NoAnswer)
        ));
    }

    #[test]
    fn events_are_read_in_the_cti_apis_words() {
        assert_eq!(
            CallEvent::parse("hangup", Some("noAnswer")),
            Some(CallEvent::Hangup(Some(HangupCause::NoAnswer)))
        );
        assert_eq!(CallEvent::parse("newCall", None), Some(CallEvent::NewCall));
        assert_eq!(CallEvent::parse("ring", None), None);
    }
}

/// One event as the telephone system sent it.
#[derive(Debug, Clone)]
pub struct CallEventInput {
    pub event: CallEvent,
    pub call_id: String,
    pub direction: CallDirection,
    pub from: String,
    pub to: String,
    /// Names of the agents the system reports (`user[]`).
    pub users: Vec<String>,
    pub answering_number: Option<String>,
}
