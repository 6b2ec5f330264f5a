//! The benchmarks' data: the CAP's staff (a lead, 23 agents, the quality owner, all with one
//! known password) and the history the demo also loads (`atiende_store::demo::history`), at
//! the scale asked for.

use anyhow::Result;
use atiende_domain::user::{Role, UserInput};
use atiende_store::demo::history::{self, Generated, Staff};
use atiende_store::demo::{FIRST_NAMES, SURNAMES};
use atiende_store::{Actor, Store};

pub use atiende_store::demo::history::Spec;

const PASSWORD: &str = "clave-de-benchmark";

/// What an earlier run left at the store, for measuring it again: the incidents only (the
/// other counts are not kept and read as zero).
pub async fn already_generated(store: &Store) -> Result<Generated> {
    let incidents = store
        .latest_incident_id(&atiende_domain::access::Scope::All)
        .await? as usize;
    anyhow::ensure!(incidents > 0, "--reuse: the database holds no incidents");
    Ok(Generated {
        incidents,
        ..Generated::default()
    })
}

/// Creates the staff through the product (passwords hashed as usual), then writes the history
/// into a migrated, seeded database. `progress(stage, done, total)` is called as batches land.
pub async fn generate(
    store: &Store,
    spec: &Spec,
    progress: impl Fn(&str, usize, usize),
) -> Result<Generated> {
    let mut agents = Vec::new();
    for n in 0..24 {
        let input = UserInput {
            login: Some(format!("agente{n:02}")),
            name: Some(format!(
                "{} {}",
                FIRST_NAMES[n % FIRST_NAMES.len()],
                SURNAMES[(n * 7) % SURNAMES.len()]
            )),
            role: Some(if n == 0 { Role::CapLead } else { Role::Agent }),
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        let created = store.create_user(Actor::System, &input).await?;
        agents.push(created.user.id.0);
    }
    let quality = UserInput {
        login: Some("calidad".into()),
        name: Some("Responsable del SIGA".into()),
        role: Some(Role::QualityOwner),
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    let quality_owner = Some(store.create_user(Actor::System, &quality).await?.user.id.0);
    let staff = Staff {
        agents,
        quality_owner,
    };
    Ok(history::write(store, spec, &staff, progress).await?)
}
