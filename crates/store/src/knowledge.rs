//! Knowledge-base articles: every save a version (who changed what), the search document kept in
//! step, "this article resolved it" on incidents, and what the quality owner counts — the most
//! useful articles and the topics that lack one.

use atiende_domain::audit::EntityKind;
use atiende_domain::ids::{IncidentId, TopicId, UnitId};
use atiende_domain::incident::EntryKind;
use atiende_domain::knowledge::ArticleInput;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::{Store, flag, from_ms, ms, now};
use crate::error::{Result, StoreError};
use crate::incidents::rows::append;
use crate::search::{Kind, index, unindex};
use crate::tx::Tx;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub topic_id: Option<TopicId>,
    pub tags: String,
    pub owner_unit_id: Option<UnitId>,
    pub review_on: Option<NaiveDate>,
    pub public: bool,
    pub version: i64,
    pub archived: bool,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

impl Article {
    pub fn input(&self) -> ArticleInput {
        ArticleInput {
            title: self.title.clone(),
            body: self.body.clone(),
            topic_id: self.topic_id,
            tags: self.tags.clone(),
            owner_unit_id: self.owner_unit_id,
            review_on: self.review_on,
            public: self.public,
        }
    }
}

fn date(r: &AnyRow, col: &str) -> Result<Option<NaiveDate>> {
    Ok(r.try_get::<Option<String>, _>(col)?
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}

fn article_from_row(r: &AnyRow) -> Result<Article> {
    Ok(Article {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        topic_id: r.try_get::<Option<i64>, _>("topic_id")?.map(TopicId),
        tags: r.try_get("tags")?,
        owner_unit_id: r.try_get::<Option<i64>, _>("owner_unit_id")?.map(UnitId),
        review_on: date(r, "review_on")?,
        public: flag(r, "public")?,
        version: r.try_get("version")?,
        archived: flag(r, "archived")?,
        updated_by: r.try_get("updated_by")?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

/// One saved version of an article.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleVersion {
    pub version: i64,
    pub title: String,
    pub body: String,
    pub public: bool,
    pub changed_by: Option<i64>,
    pub changed_at: DateTime<Utc>,
}

/// Filters for the article list.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub topic_id: Option<TopicId>,
    pub owner_units: Option<Vec<UnitId>>,
    /// Only articles past their review date (as of this day).
    pub due_on: Option<NaiveDate>,
    pub public_only: bool,
    /// The page after this article (in the list's order: by title, then id).
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// How often an article resolved incidents.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleUse {
    pub id: i64,
    pub title: String,
    pub resolved: i64,
}

/// A topic people ask about that has no article.
#[derive(Debug, Clone, Serialize)]
pub struct TopicGap {
    pub topic_id: TopicId,
    pub name: String,
    pub incidents: i64,
}

async fn article_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Article> {
    let row = sqlx::query("SELECT * FROM articles WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("article"))?;
    article_from_row(&row)
}

async fn save_version(tx: &mut Tx, a: &Article, actor: Actor<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO article_versions (article_id, version, title, body, topic_id, tags, owner_unit_id, review_on, public, \
         changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(a.id)
    .bind(a.version)
    .bind(a.title.clone())
    .bind(a.body.clone())
    .bind(a.topic_id.map(|t| t.0))
    .bind(a.tags.clone())
    .bind(a.owner_unit_id.map(|u| u.0))
    .bind(a.review_on.map(|d| d.to_string()))
    .bind(i64::from(a.public))
    .bind(actor.user_id().map(|u| u.0))
    .bind(ms(a.updated_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Rewrites an article's search document (archived ones leave the index).
    pub(crate) async fn reindex_article(&self, tx: &mut Tx, id: i64) -> Result<()> {
        let a = article_in(tx, id).await?;
        if a.archived {
            return unindex(tx, Kind::Article, id).await;
        }
        let body = format!("{}\n{}", a.body, a.tags.replace(',', " "));
        index(tx, Kind::Article, id, &a.title, body).await
    }

    pub async fn create_article(&self, actor: Actor<'_>, input: &ArticleInput) -> Result<Article> {
        input.check()?;
        let t = ms(now());
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO articles (title, body, topic_id, tags, owner_unit_id, review_on, public, version, created_by, \
             updated_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, $9) RETURNING id",
        )
        .bind(input.title.trim().to_string())
        .bind(input.body.trim().to_string())
        .bind(input.topic_id.map(|t| t.0))
        .bind(input.tag_list().join(", "))
        .bind(input.owner_unit_id.map(|u| u.0))
        .bind(input.review_on.map(|d| d.to_string()))
        .bind(i64::from(input.public))
        .bind(actor.user_id().map(|u| u.0))
        .bind(t)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::Rule(atiende_domain::RuleError::invalid("topic_id", "unknown_topic_or_user"))
            }
            e => e.into(),
        })?
        .try_get("id")?;
        let a = article_in(&mut tx, id).await?;
        save_version(&mut tx, &a, actor).await?;
        self.reindex_article(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Article,
            entity_id: id.to_string(),
            action: "article.create",
            before: None,
            after: snapshot(&a),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Saves a new version of an article.
    pub async fn update_article(
        &self,
        actor: Actor<'_>,
        id: i64,
        input: &ArticleInput,
    ) -> Result<Article> {
        input.check()?;
        let mut tx = self.begin().await?;
        let before = article_in(&mut tx, id).await?;
        sqlx::query(
            "UPDATE articles SET title = $1, body = $2, topic_id = $3, tags = $4, owner_unit_id = $5, review_on = $6, \
             public = $7, version = version + 1, updated_by = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(input.title.trim().to_string())
        .bind(input.body.trim().to_string())
        .bind(input.topic_id.map(|t| t.0))
        .bind(input.tag_list().join(", "))
        .bind(input.owner_unit_id.map(|u| u.0))
        .bind(input.review_on.map(|d| d.to_string()))
        .bind(i64::from(input.public))
        .bind(actor.user_id().map(|u| u.0))
        .bind(ms(now()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let after = article_in(&mut tx, id).await?;
        save_version(&mut tx, &after, actor).await?;
        self.reindex_article(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Article,
            entity_id: id.to_string(),
            action: "article.update",
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Takes an article out of use (and out of every search); its history stays.
    pub async fn archive_article(&self, actor: Actor<'_>, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        article_in(&mut tx, id).await?;
        sqlx::query("UPDATE articles SET archived = 1, updated_at = $1 WHERE id = $2")
            .bind(ms(now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.reindex_article(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Article,
            entity_id: id.to_string(),
            action: "article.archive",
            before: None,
            after: None,
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn article(&self, id: i64) -> Result<Article> {
        article_in(&mut *self.reader().acquire().await?, id).await
    }

    /// These articles in one query, in the order given (a search's ranking).
    pub async fn articles_by_id(&self, ids: &[i64]) -> Result<Vec<Article>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut sql = crate::db::Sql::new("SELECT * FROM articles WHERE id IN (");
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.bind(*id);
        }
        sql.push(")");
        let mut found = sql
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(article_from_row)
            .collect::<Result<Vec<_>>>()?;
        found.sort_by_key(|a| ids.iter().position(|id| *id == a.id));
        Ok(found)
    }

    pub async fn article_versions(&self, id: i64) -> Result<Vec<ArticleVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM article_versions WHERE article_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ArticleVersion {
                    version: r.try_get("version")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    public: flag(r, "public")?,
                    changed_by: r.try_get("changed_by")?,
                    changed_at: from_ms(r.try_get("changed_at")?)?,
                })
            })
            .collect()
    }

    /// Tells the owners of each article in use whose review date passed before `today`, once
    /// per review date (a new date is told again), whichever instance gets there first.
    /// Returns how many articles were told of.
    pub async fn tell_articles_due_for_review(&self, today: NaiveDate) -> Result<usize> {
        let due = sqlx::query(
            "SELECT id, owner_unit_id FROM articles WHERE archived = 0 AND review_on IS NOT NULL \
             AND review_on < $1 AND (review_told_on IS NULL OR review_told_on <> review_on)",
        )
        .bind(today.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut told = 0;
        for r in &due {
            let id: i64 = r.try_get("id")?;
            let owner = r.try_get::<Option<i64>, _>("owner_unit_id")?.map(UnitId);
            let mut tx = self.begin().await?;
            let first = sqlx::query(
                "UPDATE articles SET review_told_on = review_on WHERE id = $1 \
                 AND (review_told_on IS NULL OR review_told_on <> review_on)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if first {
                crate::notifications::article_review_due(&mut tx, id, owner).await?;
                told += 1;
            }
            tx.commit().await?;
        }
        Ok(told)
    }

    /// Articles in use, by title.
    pub async fn articles(&self, f: &ArticleFilter) -> Result<Vec<Article>> {
        let mut sql = crate::db::Sql::new("SELECT * FROM articles WHERE archived = 0");
        if let Some(t) = f.topic_id {
            sql.push(" AND topic_id = ");
            sql.bind(t.0);
        }
        if f.public_only {
            sql.push(" AND public = 1");
        }
        if let Some(day) = f.due_on {
            sql.push(" AND review_on IS NOT NULL AND review_on < ");
            sql.bind(day.to_string());
        }
        if let Some(units) = &f.owner_units {
            sql.push(" AND owner_unit_id IN (");
            for (n, u) in units.iter().enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                sql.bind(u.0);
            }
            if units.is_empty() {
                sql.push("NULL");
            }
            sql.push(")");
        }
        if let Some(after) = f.after_id {
            sql.push(" AND (title, id) > (SELECT title, id FROM articles WHERE id = ");
            sql.bind(after);
            sql.push(")");
        }
        sql.push(" ORDER BY title, id LIMIT ");
        sql.bind(if f.limit > 0 { f.limit.min(1000) } else { 500 });
        let rows = sql.fetch_all(self.reader()).await?;
        rows.iter().map(article_from_row).collect()
    }

    /// "This article resolved it": recorded on the incident (timeline and audit) once.
    pub async fn mark_resolved_by_article(
        &self,
        actor: Actor<'_>,
        incident: IncidentId,
        article: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let a = article_in(&mut tx, article).await?;
        let done = sqlx::query(
            "SELECT 1 AS ok FROM article_resolutions WHERE incident_id = $1 AND article_id = $2",
        )
        .bind(incident.0)
        .bind(article)
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_some() {
            return Ok(false);
        }
        sqlx::query("INSERT INTO article_resolutions (incident_id, article_id, marked_by, marked_at) VALUES ($1, $2, $3, $4)")
            .bind(incident.0)
            .bind(article)
            .bind(actor.user_id().map(|u| u.0))
            .bind(ms(now()))
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound("incident"),
                e => e.into(),
            })?;
        append(
            &mut tx,
            incident,
            EntryKind::Note,
            actor.user_id(),
            &format!("Lo resolvió el artículo «{}».", a.title),
            serde_json::json!({ "article_id": article }),
            now(),
        )
        .await?;
        let change = Change {
            entity: EntityKind::Incident,
            entity_id: incident.0.to_string(),
            action: "incident.resolved_by_article",
            before: None,
            after: Some(serde_json::json!({ "article_id": article })),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The articles marked as the resolution of an incident.
    pub async fn resolutions_of(&self, incident: IncidentId) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT article_id FROM article_resolutions WHERE incident_id = $1")
            .bind(incident.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("article_id")?)).collect()
    }

    /// The articles that resolved the most incidents.
    pub async fn most_useful_articles(&self, limit: i64) -> Result<Vec<ArticleUse>> {
        let rows = sqlx::query(
            "SELECT a.id, a.title, COUNT(*) AS n FROM article_resolutions r JOIN articles a ON a.id = r.article_id \
             GROUP BY a.id, a.title ORDER BY n DESC, a.title LIMIT $1",
        )
        .bind(limit.clamp(1, 100))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ArticleUse {
                    id: r.try_get("id")?,
                    title: r.try_get("title")?,
                    resolved: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Topics of incidents received since `since` that no article in use covers, most asked
    /// first (read from the monthly rollups, not the incidents).
    pub async fn topics_without_articles(&self, since_month: i64) -> Result<Vec<TopicGap>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, CAST(SUM(r.incidents) AS BIGINT) AS n FROM indicator_rollup r \
             JOIN topics t ON r.dimension = 'topic' AND r.value = CAST(t.id AS TEXT) \
             WHERE r.month >= $1 AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.topic_id = t.id AND a.archived = 0) \
             GROUP BY t.id, t.name HAVING SUM(r.incidents) > 0 ORDER BY n DESC",
        )
        .bind(since_month)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TopicGap {
                    topic_id: TopicId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    incidents: r.try_get("n")?,
                })
            })
            .collect()
    }
}
