//! The write transaction, and the upkeep no incident change can go without.
//!
//! Everything kept in step with an incident — its indicator facts and their rollups, its
//! service-level clocks, its search document — is done by [`Tx::commit`] for every incident the transaction touched,
//! and so is forgetting the words suppressed documents held (PostgreSQL's list of words).
//! The writes that change an incident (its row, its timeline, its derivations, its survey)
//! take the transaction and mark the incident touched, so a new write path gets the upkeep by
//! writing through them: there is no other way to commit. Bulk writers that compute facts and
//! documents for many incidents at once (the intake's groups, the benchmark's generator) write
//! them themselves and touch nothing.

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};

use atiende_domain::ids::IncidentId;
use sqlx::{Any, AnyConnection, Transaction};

use crate::db::{Engine, Store};
use crate::error::Result;

pub struct Tx {
    inner: Transaction<'static, Any>,
    store: Store,
    /// Incidents whose facts and search document must be brought in step before commit.
    touched: BTreeSet<IncidentId>,
    /// Words documents held before this transaction took them out (a suppression), to leave
    /// the search's list of words at commit unless a document still holds them.
    forgotten: BTreeSet<String>,
}

impl Tx {
    pub(crate) fn new(inner: Transaction<'static, Any>, store: Store) -> Tx {
        Tx {
            inner,
            store,
            touched: BTreeSet::new(),
            forgotten: BTreeSet::new(),
        }
    }

    /// Marks an incident changed in this transaction: its upkeep runs at commit.
    /// The store this transaction belongs to (its time zone, its settings).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn touch(&mut self, id: IncidentId) {
        self.touched.insert(id);
    }

    /// Notes words documents hold before this transaction takes them out (a suppression):
    /// at commit they leave the search's list of words unless a document still holds them.
    pub(crate) fn forget_words(&mut self, words: Vec<String>) {
        self.forgotten.extend(words);
    }

    /// Brings every touched incident's facts, rollups and search document in step, then
    /// commits: all of it or none.
    pub async fn commit(mut self) -> Result<()> {
        let touched = std::mem::take(&mut self.touched);
        if !touched.is_empty() {
            let store = self.store.clone();
            let rules = store.clock_rules(&mut self).await?;
            for id in touched {
                store.refresh_measures(&mut self, id, &rules).await?;
                store.reindex_incident(&mut self, id).await?;
            }
        }
        let forgotten = std::mem::take(&mut self.forgotten);
        if !forgotten.is_empty() {
            let words: Vec<String> = forgotten.into_iter().collect();
            self.store.clone().forget_words(&mut self, &words).await?;
        }
        self.inner.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        self.inner.rollback().await?;
        Ok(())
    }
}

impl Store {
    /// A write transaction. On SQLite it takes the write lock at once, so a transaction that
    /// reads and then writes can never fail half-way on a lock held by another process.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        let inner = match self.engine() {
            Engine::Sqlite => self.writer().begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.writer().begin().await?,
        };
        Ok(Tx::new(inner, self.clone()))
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}
