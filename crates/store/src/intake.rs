//! Registering incidents (the API, the console) with group commit.
//!
//! sqlx hands every SQLite statement to the connection's own thread and back, and a new
//! incident took two dozen statements (folio, row, first message, audit, each rollup counter,
//! search document): intake was bound by those hand-offs — about 850 incidents a second — not
//! by the database. Creations therefore wait in a queue, and one writer per process takes all
//! that are waiting and commits them in one transaction of a few multi-row statements. Each
//! caller is answered only after the transaction holding its incident has committed, so an
//! acknowledged incident survives a crash exactly as before; nothing is kept in memory that the
//! database does not already hold, and several instances each run their own writer against
//! one PostgreSQL (folios are taken with one counter update per group).
//!
//! What a new incident writes is the same on both paths; `create_incident_in` stays the path
//! for channels that add their own records to the transaction, and for the rare incident that
//! needs more than a plain creation (a buzón suggestion routed to the quality owner).

use std::collections::HashMap;

use atiende_domain::RuleError;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::UserType;
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{EntryKind, Incident, NewIncidentInput};
use atiende_domain::privacy::Cancellation;
use atiende_domain::service_level::Clock;
use futures_util::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection};
use tokio::sync::{mpsc, oneshot};

use atiende_domain::webhook::EventType;

use crate::Actor;
use crate::audit::{Change, push_records, snapshot};
use crate::bulk::{Value, insert_sql, push_insert};
use crate::db::direct::{Columns, Direct};
use crate::db::{
    Binding, Engine, IntakeJob, IntakeTotals, Script, Sql, Store, WRITER_CACHE_KIB, from_ms, ms,
};
use crate::error::{Result, StoreError};
use crate::incidents::rows::{NEW_INCIDENT_COLUMNS, folios_sql, new_incident_row};
use crate::indicators::{RollupDelta, SurveyState, push_facts};
use crate::search::{Kind, incident_document, push_new_documents};
use crate::service_levels::{Rules, clocks_of, push_new_clocks};
use crate::webhooks::events_of;

/// The most incidents committed together: enough to share the transaction at any load a CAP
/// sees, few enough that the first of them is not kept waiting.
const GROUP: usize = 64;

impl Store {
    /// Registers an incident; answers once it is committed.
    pub async fn create_incident(
        &self,
        actor: Actor<'_>,
        input: NewIncidentInput,
    ) -> Result<Incident> {
        let queue = self.intake.get_or_init(|| self.start_intake_writer());
        let (reply, answer) = oneshot::channel();
        let job = IntakeJob {
            actor: match actor {
                Actor::Staff(user) => Some(user.clone()),
                Actor::System => None,
            },
            input,
            reply,
        };
        match queue.send(job).await {
            // The writer answers after the commit; if it stopped first (its runtime is
            // shutting down) the outcome is unknown, which is what a lost connection says.
            Ok(()) => answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?,
            // The runtime that started the writer has ended: this caller writes alone.
            Err(mpsc::error::SendError(job)) => self.create_incident_alone(actor, job.input).await,
        }
    }

    fn start_intake_writer(&self) -> mpsc::Sender<IntakeJob> {
        let (sender, mut jobs) = mpsc::channel::<IntakeJob>(GROUP * 16);
        // The writer's own handle has no queue of its own, so the queue closes (and the writer
        // ends) when the last handle that can send is dropped.
        let store = self.without_intake_queue();
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(GROUP);
            let mut turn = Turn::default();
            while jobs.recv_many(&mut group, GROUP).await > 0 {
                let mut actors = Vec::with_capacity(group.len());
                let mut inputs = Vec::with_capacity(group.len());
                let mut replies = Vec::with_capacity(group.len());
                for job in group.drain(..) {
                    actors.push(job.actor);
                    inputs.push(job.input);
                    replies.push(job.reply);
                }
                let batch: Vec<(Actor<'_>, NewIncidentInput)> = actors
                    .iter()
                    .map(|actor| match actor {
                        Some(user) => Actor::Staff(user),
                        None => Actor::System,
                    })
                    .zip(inputs)
                    .collect();
                let started = std::time::Instant::now();
                let results = store.create_incidents_in_turn(&mut turn, batch).await;
                let created = results.iter().filter(|r| r.is_ok()).count();
                store.intake_stats.record(created, started.elapsed());
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that went away (its request was cancelled) still has its
                    // incident: it was committed.
                    let _ = reply.send(result);
                }
                if jobs.is_empty() || turn.used_up() {
                    turn.end();
                }
            }
        });
        sender
    }

    /// Registers several incidents in one transaction; one result per input, in order. An
    /// input the rules refuse gets its error and the others are still created; if the shared
    /// transaction itself fails (a topic or agent that does not exist), each is created on
    /// its own so that only the faulty one fails.
    pub async fn create_incidents(
        &self,
        batch: Vec<(Actor<'_>, NewIncidentInput)>,
    ) -> Vec<Result<Incident>> {
        self.create_incidents_in_turn(&mut Turn::default(), batch)
            .await
    }

    /// [`Store::create_incidents`] on the write connection `turn` holds, taken first if it
    /// holds none.
    async fn create_incidents_in_turn(
        &self,
        turn: &mut Turn,
        batch: Vec<(Actor<'_>, NewIncidentInput)>,
    ) -> Vec<Result<Incident>> {
        let together = match turn.connection(self).await {
            Ok(conn) => match self.create_directly(&batch) {
                Some(Ok(results)) => Ok(results),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, size = batch.len(), "a group of new incidents goes through sqlx");
                    self.create_together(conn, &batch).await
                }
                None => self.create_together(conn, &batch).await,
            },
            Err(e) => Err(e),
        };
        match together {
            Ok(mut results) => {
                // Written alone, on a connection of their own: the turn's is given back first.
                if results.iter().any(Option::is_none) {
                    turn.end();
                }
                let mut out = Vec::with_capacity(batch.len());
                for ((actor, input), result) in batch.into_iter().zip(results.iter_mut()) {
                    out.push(match result.take() {
                        Some(r) => r,
                        None => self.create_incident_alone(actor, input).await,
                    });
                }
                out
            }
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "a group of new incidents is written one by one");
                turn.end();
                let mut results = Vec::with_capacity(batch.len());
                for (actor, input) in batch {
                    results.push(self.create_incident_alone(actor, input).await);
                }
                results
            }
        }
    }

    async fn create_incident_alone(
        &self,
        actor: Actor<'_>,
        input: NewIncidentInput,
    ) -> Result<Incident> {
        let mut tx = self.begin().await?;
        let (incident, _) = self.create_incident_in(&mut tx, actor, input).await?;
        tx.commit().await?;
        tracing::info!(incident.folio = %incident.folio, incident.channel = %incident.channel, "incident created");
        Ok(incident)
    }

    /// One transaction for the group's plain creations, through sqlx. An input that needs
    /// more than a plain creation (a buzón suggestion routed to the quality owner) is left
    /// out, as `None`, for the caller to write alone.
    async fn create_together(
        &self,
        conn: &mut AnyConnection,
        batch: &[(Actor<'_>, NewIncidentInput)],
    ) -> Result<Vec<Option<Result<Incident>>>> {
        let mut tx = match self.engine() {
            Engine::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => conn.begin().await?,
        };
        let (results, events) = self.write_group(&mut Pooled(&mut tx), batch).await?;
        // As `create_incident_in` does for one: the subscriptions are read once per group.
        crate::webhooks::emit_many(&mut tx, EventType::IncidentCreated, events).await?;
        tx.commit().await?;
        log_created(&results);
        Ok(results)
    }

    /// The group on SQLite's direct connection, opened at first use; `None` where there is
    /// none (PostgreSQL) or the group is left to sqlx. The caller holds the pool's write
    /// connection, so this is SQLite's one writer meanwhile.
    fn create_directly(
        &self,
        batch: &[(Actor<'_>, NewIncidentInput)],
    ) -> Option<Result<Vec<Option<Result<Incident>>>>> {
        let slot = self.direct.as_ref()?;
        let mut held = match slot.connection.lock() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        if held.is_none() {
            match Direct::open(&slot.path, WRITER_CACHE_KIB) {
                Ok(direct) => *held = Some(direct),
                Err(e) => return Some(Err(e)),
            }
        }
        let direct = held.as_ref()?;
        let written = self.create_together_directly(direct, batch);
        if written.is_err() && direct.in_transaction() {
            // Its transaction could not be ended: the next group opens a new connection.
            *held = None;
        }
        written.transpose()
    }

    /// [`Store::create_together`] on SQLite's direct connection, on this thread (`direct`).
    /// A group that would notify webhooks of new incidents is left to the sqlx path, which
    /// records their deliveries: `None`.
    fn create_together_directly(
        &self,
        direct: &Direct,
        batch: &[(Actor<'_>, NewIncidentInput)],
    ) -> Result<Option<Vec<Option<Result<Incident>>>>> {
        direct.batch("BEGIN IMMEDIATE")?;
        // Asked first: a group written here and then rolled back for its webhooks would be
        // written twice whenever an integration listens.
        let written = direct
            .query(&subscriptions_sql(), |r| r.text("events"))
            .map(|subscriptions| {
                subscriptions
                    .iter()
                    .any(|e| events_of(e).contains(&EventType::IncidentCreated))
            })
            .and_then(|subscribed| {
                if subscribed {
                    return Ok(None);
                }
                self.write_group(&mut OnThread(direct), batch)
                    .now_or_never()
                    .unwrap_or_else(|| Err(StoreError::corrupt("a direct statement waited")))
                    .map(|(results, _no_listener)| Some(results))
            });
        match written {
            Ok(Some(results)) => {
                direct.batch("COMMIT")?;
                log_created(&results);
                Ok(Some(results))
            }
            Ok(None) => {
                direct.batch("ROLLBACK")?;
                Ok(None)
            }
            Err(e) => {
                if direct.in_transaction() {
                    direct.batch("ROLLBACK")?;
                }
                Err(e)
            }
        }
    }

    /// What both paths write for a group: the drafts validated against their contacts, then
    /// folios, incidents, first messages, audit records, indicator facts and rollups, search
    /// documents and clocks — a few statements for the whole group. Returns each input's
    /// result (`None` for one to write alone, `Some` for the written and the refused) and the
    /// new incidents' webhook events.
    async fn write_group(
        &self,
        conn: &mut impl GroupConn,
        batch: &[(Actor<'_>, NewIncidentInput)],
    ) -> Result<(Vec<Option<Result<Incident>>>, Vec<CreatedEvent>)> {
        let now = crate::db::now();
        let contacts = contacts_of(
            conn,
            self.engine(),
            batch.iter().filter_map(|(_, i)| i.contact_id),
        )
        .await?;
        let mut results: Vec<Option<Result<Incident>>> = Vec::with_capacity(batch.len());
        // Validated drafts of plain creations, by their place in the batch.
        let mut plain: Vec<(usize, Incident, String)> = Vec::new();
        for (n, (actor, input)) in batch.iter().enumerate() {
            let mut input = input.clone();
            let contact = match input.contact_id {
                None => None,
                Some(id) => match contacts.get(&id) {
                    Some(c) => Some(*c),
                    None => {
                        results.push(Some(Err(RuleError::invalid(
                            "contact_id",
                            "unknown_contact",
                        )
                        .into())));
                        continue;
                    }
                },
            };
            // As in `create_incident_in`: staff cannot put a blocked person back into use.
            if let (Actor::Staff(_), Some(c)) = (actor, contact)
                && let Err(e) = c.cancellation.check_in_use()
            {
                results.push(Some(Err(e.into())));
                continue;
            }
            input.contact_id = contact.map(|c| c.id);
            if let Err(e) = input.validate(contact.and_then(|c| c.user_type), now) {
                results.push(Some(Err(e.into())));
                continue;
            }
            let received_at = from_ms(ms(input.received_at.unwrap_or(now)))?;
            let year = Folio::year_of(received_at, self.tz);
            let draft = input.open_incident(Folio { year, seq: 0 }, received_at, now);
            if !draft.needs_quality_routing(&[]) {
                plain.push((n, draft, input.body));
            }
            results.push(None);
        }
        let events = self.write_new_incidents(conn, batch, &mut plain).await?;
        for (n, incident, _) in plain {
            results[n] = Some(Ok(incident));
        }
        Ok((results, events))
    }

    /// The rows of new incidents; returns their webhook events.
    async fn write_new_incidents(
        &self,
        conn: &mut impl GroupConn,
        batch: &[(Actor<'_>, NewIncidentInput)],
        plain: &mut [(usize, Incident, String)],
    ) -> Result<Vec<CreatedEvent>> {
        if plain.is_empty() {
            return Ok(Vec::new());
        }
        // Folios: one counter update per year takes a run of numbers.
        let mut years: Vec<i32> = plain.iter().map(|(_, i, _)| i.folio.year).collect();
        years.sort_unstable();
        years.dedup();
        for year in years {
            let count = plain
                .iter()
                .filter(|(_, i, _)| i.folio.year == year)
                .count() as i64;
            let last = conn
                .rows(folios_sql(year, count), |r| r.int("last_seq"))
                .await?
                .first()
                .copied()
                .ok_or_else(|| StoreError::corrupt("folio counter without its row"))?;
            let mut seq = last - count;
            for (_, incident, _) in plain.iter_mut().filter(|(_, i, _)| i.folio.year == year) {
                seq += 1;
                incident.folio.seq = seq;
            }
        }
        let rows: Vec<Vec<Value>> = plain
            .iter()
            .map(|(n, i, _)| new_incident_row(i, batch[*n].0.user_id()))
            .collect();
        // Rows come back in no promised order: matched by folio, which is unique.
        let ids: HashMap<String, i64> = conn
            .rows(
                insert_sql(
                    self.engine(),
                    conn.binding(),
                    "incidents",
                    NEW_INCIDENT_COLUMNS,
                    &rows,
                    " RETURNING id, folio",
                ),
                |r| Ok((r.text("folio")?, r.int("id")?)),
            )
            .await?
            .into_iter()
            .collect();
        for (_, incident, _) in plain.iter_mut() {
            incident.id = IncidentId(
                *ids.get(&incident.folio.to_string())
                    .ok_or_else(|| StoreError::corrupt("new incident without its id"))?,
            );
        }
        // Everything else depends only on the ids: one script.
        let mut script = Script::independent(self.engine()).binding_rows(conn.binding());
        let messages: Vec<Vec<Value>> = plain
            .iter()
            .filter(|(_, _, body)| !body.is_empty())
            .map(|(_, i, body)| {
                vec![
                    Value::Int(i.id.0),
                    Value::Text(EntryKind::InboundMessage.code().to_string()),
                    Value::Int(ms(i.received_at)),
                    Value::OptInt(None),
                    Value::Text(body.clone()),
                    Value::Text("{}".to_string()),
                ]
            })
            .collect();
        push_insert(
            &mut script,
            "timeline_entries",
            &["incident_id", "kind", "at", "author_id", "body", "data"],
            &messages,
            "",
        );
        let changes: Vec<(Actor<'_>, Change)> = plain
            .iter()
            .map(|(n, i, _)| {
                let change = Change {
                    entity: EntityKind::Incident,
                    entity_id: i.folio.to_string(),
                    action: "incident.create",
                    before: None,
                    after: snapshot(i),
                };
                (batch[*n].0, change)
            })
            .collect();
        push_records(&mut script, changes);
        // A new incident's facts need nothing from the database: no status change, no
        // derivation, no survey yet.
        let mut delta = RollupDelta::default();
        let mut facts = Vec::with_capacity(plain.len());
        for (_, incident, _) in plain.iter() {
            let f = self.facts_of(incident, &[], None, SurveyState::default(), None);
            delta.add(None, &f);
            facts.push((incident.id, f));
        }
        delta.push(&mut script);
        push_facts(&mut script, &facts)?;
        let docs: Vec<(i64, String, String)> = plain
            .iter()
            .map(|(_, i, body)| {
                // The first message is the only text a new incident has.
                let texts: &[&str] = if body.is_empty() {
                    &[]
                } else {
                    &[body.as_str()]
                };
                let (title, text) = incident_document(&i.folio.to_string(), &i.subject, &[], texts);
                (i.id.0, title, text)
            })
            .collect();
        push_new_documents(&mut script, Kind::Incident, &docs);
        let settings: HashMap<String, String> = conn
            .rows(Rules::settings_sql(self.engine()), |r| {
                Ok((r.text("key")?, r.text("value")?))
            })
            .await?
            .into_iter()
            .collect();
        let rules = Rules::from_settings(&settings)?;
        let computed: Vec<(IncidentId, Vec<Clock>)> = plain
            .iter()
            .map(|(_, i, _)| (i.id, clocks_of(i, &[], &[], &rules, self.tz)))
            .collect();
        let new: Vec<(IncidentId, &[Clock])> =
            computed.iter().map(|(id, c)| (*id, c.as_slice())).collect();
        push_new_clocks(&mut script, &new)?;
        conn.run(script).await?;
        Ok(plain
            .iter()
            .map(|(_, i, _)| (Some(i.id), crate::incidents::rows::event_data(i, i.status)))
            .collect())
    }
}

impl Store {
    /// What this process's intake writer has done since it started.
    pub fn intake_totals(&self) -> IntakeTotals {
        self.intake_stats.totals()
    }
}

/// How long the writer keeps the write connection from one group to the next while more
/// incidents wait. sqlx answers a connection given back to its pool with a round trip to the
/// connection (a ping) in a task of its own before lending it again, and a group waited for
/// both at its start: 0.38 of a group's 1.9 ms at concurrency 16 on SQLite, whose pool has
/// one write connection. Other writes queue for that connection meanwhile, so the turn ends
/// when nothing waits or after this long.
const TURN: std::time::Duration = std::time::Duration::from_millis(10);

/// The write connection the intake writer holds across groups, and since when.
#[derive(Default)]
struct Turn(Option<(PoolConnection<Any>, std::time::Instant)>);

impl Turn {
    async fn connection(&mut self, store: &Store) -> Result<&mut AnyConnection> {
        if self.0.is_none() {
            self.0 = Some((store.writer().acquire().await?, std::time::Instant::now()));
        }
        match &mut self.0 {
            Some((conn, _)) => Ok(&mut **conn),
            None => Err(StoreError::corrupt("write connection not held")),
        }
    }

    fn used_up(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= TURN)
    }

    /// Gives the connection back to the pool.
    fn end(&mut self) {
        self.0 = None;
    }
}

/// What a new incident needs of its contact.
#[derive(Debug, Clone, Copy)]
struct ContactRef {
    id: ContactId,
    user_type: Option<UserType>,
    cancellation: Cancellation,
}

/// Logs the incidents a group committed (only once committed: a group rolled back on one
/// path is written again on the other).
fn log_created(results: &[Option<Result<Incident>>]) {
    for incident in results.iter().flatten().flatten() {
        tracing::info!(incident.folio = %incident.folio, incident.channel = %incident.channel, "incident created");
    }
}

/// A webhook event of a new incident: the incident and what the event says of it.
type CreatedEvent = (Option<IncidentId>, serde_json::Value);

/// What a group of new incidents asks of the database, on either path: the statements are
/// the same, and each path awaits nothing but its own connection.
trait GroupConn {
    async fn rows<T>(&mut self, sql: Sql, read: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>>;
    async fn run(&mut self, script: Script) -> Result<()>;
    /// How the group's inserts bind their rows on this path.
    fn binding(&self) -> Binding;
}

/// A transaction on a pooled sqlx connection.
struct Pooled<'a, 'c>(&'a mut sqlx::Transaction<'c, Any>);

impl GroupConn for Pooled<'_, '_> {
    async fn rows<T>(&mut self, sql: Sql, read: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>> {
        sql.fetch_all(&mut **self.0)
            .await?
            .iter()
            .map(|row| read(row))
            .collect()
    }

    async fn run(&mut self, script: Script) -> Result<()> {
        script.execute(self.0).await
    }

    fn binding(&self) -> Binding {
        Binding::Json
    }
}

/// SQLite's direct connection: every call is done when it returns.
struct OnThread<'a>(&'a Direct);

impl GroupConn for OnThread<'_> {
    async fn rows<T>(&mut self, sql: Sql, read: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>> {
        self.0.query(&sql, read)
    }

    async fn run(&mut self, script: Script) -> Result<()> {
        self.0.run(script)
    }

    fn binding(&self) -> Binding {
        Binding::EachValue
    }
}

fn subscriptions_sql() -> Sql {
    Sql::new("SELECT events FROM webhook_subscriptions WHERE active = 1")
}

/// The contacts named by a group of new incidents, by the id they were named with; a merged
/// contact answers with the one it was merged into.
async fn contacts_of(
    conn: &mut impl GroupConn,
    engine: Engine,
    ids: impl Iterator<Item = ContactId>,
) -> Result<HashMap<ContactId, ContactRef>> {
    let mut wanted: Vec<i64> = ids.map(|c| c.0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let rows = read_contacts(conn, engine, &wanted).await?;
    let targets: Vec<i64> = rows
        .values()
        .filter_map(|(_, merged)| *merged)
        .filter(|t| !rows.contains_key(t))
        .collect();
    let more = read_contacts(conn, engine, &targets).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for (id, (contact, merged)) in &rows {
        let answer = match merged {
            Some(target) => match rows.get(target).or_else(|| more.get(target)) {
                Some((c, _)) => *c,
                // The contact it was merged into is gone: as the single path, an error.
                None => return Err(StoreError::NotFound("contact")),
            },
            None => *contact,
        };
        out.insert(ContactId(*id), answer);
    }
    Ok(out)
}

async fn read_contacts(
    conn: &mut impl GroupConn,
    engine: Engine,
    ids: &[i64],
) -> Result<HashMap<i64, (ContactRef, Option<i64>)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = Sql::new(
        "SELECT id, user_type, merged_into, blocked_at, anonymised_at FROM contacts WHERE id",
    );
    sql.push_in_ids(engine, ids);
    let rows = conn
        .rows(sql, |row| {
            let id = row.int("id")?;
            let user_type = match row.opt_text("user_type")? {
                None => None,
                Some(code) => Some(
                    UserType::from_code(&code)
                        .ok_or_else(|| StoreError::corrupt(format!("user_type {code}")))?,
                ),
            };
            let contact = ContactRef {
                id: ContactId(id),
                user_type,
                cancellation: Cancellation::of(
                    row.opt_int("blocked_at")?.is_some(),
                    row.opt_int("anonymised_at")?.is_some(),
                ),
            };
            Ok((id, (contact, row.opt_int("merged_into")?)))
        })
        .await?;
    Ok(rows.into_iter().collect())
}
