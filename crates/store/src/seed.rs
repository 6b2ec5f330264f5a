//! What a fresh instance starts with: the procedure's units, the topic catalogue, and the first
//! administrator.

use atiende_domain::unit::{SEED_TOPICS, UnitInput, seed_units};
use atiende_domain::user::{Role, UserInput};
use sqlx::Row;

use crate::Actor;
use crate::db::Store;
use crate::error::{Result, StoreError};

/// Several instances may start together on one PostgreSQL: the one that loses the race to seed
/// a row finds it taken, which is what it wanted.
fn tolerate_race<T>(result: Result<T>) -> Result<()> {
    match result {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The first administrator's credentials when atiende had to create them.
pub struct FirstAdmin {
    pub login: String,
    /// Present when atiende generated it (one-time: it must be changed at first login).
    pub generated_password: Option<String>,
}

impl Store {
    /// Seeds catalogues if they are empty and creates the `admin` account if there are no users.
    /// Returns the administrator created, if any.
    pub async fn first_run(&self, admin_password: Option<&str>) -> Result<Option<FirstAdmin>> {
        let units: i64 = sqlx::query("SELECT COUNT(*) AS n FROM units")
            .fetch_one(self.reader())
            .await?
            .try_get("n")?;
        if units == 0 {
            for (kind, name, email) in seed_units() {
                let input = UnitInput {
                    name: Some(name.into()),
                    kind: Some(kind),
                    email: Some(email.into()),
                    ..Default::default()
                };
                tolerate_race(self.create_unit(Actor::System, &input).await)?;
            }
        }
        let topics: i64 = sqlx::query("SELECT COUNT(*) AS n FROM topics")
            .fetch_one(self.reader())
            .await?
            .try_get("n")?;
        if topics == 0 {
            for name in SEED_TOPICS {
                self.save_topic(Actor::System, None, Some(name), Some(true))
                    .await?;
            }
        }
        if self.count_users().await? > 0 {
            return Ok(None);
        }
        let input = UserInput {
            login: Some("admin".into()),
            name: Some("Administrador".into()),
            role: Some(Role::Admin),
            password: admin_password.map(str::to_string),
            ..Default::default()
        };
        let created = self.create_user(Actor::System, &input).await?;
        Ok(Some(FirstAdmin {
            login: created.user.login,
            generated_password: created.generated_password,
        }))
    }
}
