-- Knowledge base and full-text search (SQLite). Keep in step with
-- ../postgres/0007_knowledge_and_search.sql (same tables; the search index differs by engine).

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    topic_id INTEGER REFERENCES topics (id),
    tags TEXT NOT NULL DEFAULT '',
    owner_unit_id INTEGER REFERENCES units (id),
    review_on TEXT,
    public INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    archived INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    updated_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX articles_owner ON articles (owner_unit_id, review_on);

-- Every version as it was saved: who changed what, and when.
CREATE TABLE article_versions (
    article_id INTEGER NOT NULL REFERENCES articles (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    topic_id INTEGER,
    tags TEXT NOT NULL,
    owner_unit_id INTEGER,
    review_on TEXT,
    public INTEGER NOT NULL,
    changed_by INTEGER REFERENCES users (id),
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- "This article resolved it", once per incident and article.
CREATE TABLE article_resolutions (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    article_id INTEGER NOT NULL REFERENCES articles (id),
    marked_by INTEGER REFERENCES users (id),
    marked_at INTEGER NOT NULL,
    PRIMARY KEY (incident_id, article_id)
);
CREATE INDEX article_resolutions_article ON article_resolutions (article_id);

-- Full-text indexes, one per kind of record, keyed by the record's id (rowid). Accents and
-- case are folded; prefix indexes make word beginnings fast. Incidents and contacts keep no
-- copy of their text (contentless); articles keep theirs for snippets.
CREATE VIRTUAL TABLE incident_fts USING fts5(title, body, -- engine's search index
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '3');
CREATE VIRTUAL TABLE contact_fts USING fts5(title, body, -- engine's search index
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '3');
CREATE VIRTUAL TABLE article_fts USING fts5(title, body, -- engine's search index
   
    tokenize = 'unicode61 remove_diacritics 2', prefix = '3');
