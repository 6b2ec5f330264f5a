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

    /// True when the database could not do the work for now — unreachable, restarting or
    /// shutting down, out of connections, out of disk, busy — rather than refusing it: the
    /// same request may succeed later, and nothing of it was committed. The web answers 503.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Db(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|code| unavailable_code(&code)),
            _ => false,
        }
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

/// PostgreSQL's SQLSTATEs for a connection lost or refused (class 08), an administrator's
/// shutdown or restart (57P01–57P03), too many connections (53300), a full disk (53100) and
/// a write reaching a server that became a standby (25006, during a failover);
/// SQLite's result codes (their primary part) for busy (5), locked (6), an I/O error (10) and a
/// full disk (13).
fn unavailable_code(code: &str) -> bool {
    if code.starts_with("08")
        || code.starts_with("57P")
        || matches!(code, "53300" | "53100" | "25006")
    {
        return true;
    }
    code.parse::<i64>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13))
}

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn a_restart_a_full_disk_or_a_busy_file_is_unavailable_and_a_broken_rule_is_not() {
        for code in [
            "57P01", "08006", "53300", "53100", "25006", "5", "517", "13", "778",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "19", "2067", "1"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
