//! Errors the domain returns. They carry stable codes; the web edge turns codes into Spanish or
//! English sentences, so the rules never depend on a language.

use serde::Serialize;

/// One invalid or missing field, named as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    /// Stable machine code such as `required`, `invalid_email`, `too_long`.
    pub code: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
        }
    }
}

/// A step of the procedure refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Closing needs channel, user type, incident type and intervention notes.
    #[error("the incident cannot be closed; missing: {0:?}")]
    CloseMissing(Vec<FieldError>),
    #[error("the incident is already closed")]
    AlreadyClosed,
    #[error("the incident is not closed")]
    NotClosed,
    #[error("only a CAP lead derives to top management")]
    OnlyLeadDerivesToTopManagement,
    #[error("a critical incident is closed only after the CAP lead derives it to top management")]
    CriticalNeedsTopManagement,
    #[error("a continuing-education contact is derived to the Unidad de Promoción before closing")]
    ContinuingEducationNeedsPromotion,
    #[error("the derivation was already answered")]
    DerivationAlreadyAnswered,
    #[error("the unit is inactive")]
    UnitInactive,
    #[error("a contact cannot be merged into itself")]
    MergeIntoSelf,
    /// The person's data is blocked or suppressed (ARCO cancellation): out of normal use.
    #[error("the person's data is blocked")]
    ContactBlocked,
    /// The provider's customer-service window is closed for free text (WhatsApp: send an
    /// approved template; Messenger/Instagram after 7 days: nothing can be sent).
    #[error("outside the provider's reply window")]
    OutsideReplyWindow,
}

impl RuleError {
    /// Stable code used in the API's error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::Invalid(_) => "validation",
            RuleError::CloseMissing(_) => "close_requirements",
            RuleError::AlreadyClosed => "already_closed",
            RuleError::NotClosed => "not_closed",
            RuleError::OnlyLeadDerivesToTopManagement => "only_lead_derives_to_top_management",
            RuleError::CriticalNeedsTopManagement => "critical_needs_top_management",
            RuleError::ContinuingEducationNeedsPromotion => "continuing_education_needs_promotion",
            RuleError::DerivationAlreadyAnswered => "derivation_already_answered",
            RuleError::UnitInactive => "unit_inactive",
            RuleError::MergeIntoSelf => "merge_into_self",
            RuleError::ContactBlocked => "contact_blocked",
            RuleError::OutsideReplyWindow => "outside_reply_window",
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        match self {
            RuleError::Invalid(f) | RuleError::CloseMissing(f) => f,
            _ => &[],
        }
    }

    pub fn invalid(field: &str, code: &str) -> Self {
        RuleError::Invalid(vec![FieldError::new(field, code)])
    }
}

/// Collects field errors so that one response names every problem at once.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, code: &str) {
        self.0.push(FieldError::new(field, code));
    }

    /// Runs a parse and keeps its value, or records its error.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let value = value.trim();
        if required && value.is_empty() {
            self.push(field, "required");
        } else if value.chars().count() > max {
            self.push(field, "too_long");
        }
        value.to_string()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self) -> Result<(), RuleError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RuleError::Invalid(self.0))
        }
    }
}
