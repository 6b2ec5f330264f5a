use atiende_domain::RuleError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The procedure refused the step.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The person may not act on this record (e.g. a derivation to another unit).
    #[error("forbidden")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value already belongs to another record, e.g. an email of another contact.
    #[error("conflict on {field}: {code}")]
    Conflict {
        field: String,
        code: String,
        existing_id: Option<i64>,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("password hashing failed")]
    Hash,
    /// The database was written by a newer release: this binary does not know its schema and
    /// must not write to it.
    #[error(
        "the database's schema (version {found}) is newer than this atiende knows (up to \
         {known}): run the newer release, or restore a backup made by this one"
    )]
    NewerSchema { found: i64, known: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }

    /// True for a unique-constraint violation, on either engine.
    pub fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(d) if d.is_unique_violation())
    }

    /// Another transaction committed the same message, or the same new person, between our
    /// check and our insert: trying again sees the committed rows.
    pub(crate) fn is_race(&self) -> bool {
        match self {
            StoreError::Db(db) => StoreError::is_unique_violation(db),
            StoreError::Conflict { code, .. } => code == "belongs_to_another_contact",
            _ => false,
        }
    }
}
