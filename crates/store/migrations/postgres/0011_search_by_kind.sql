-- Search documents indexed by kind (PostgreSQL). Keep in step with ../sqlite/0011_search_by_kind.sql.
-- One GIN index over every kind made a search of the 5,000 articles read the posting lists of a
-- million incidents; each kind now has its own (SQLite's FTS5 tables are separate already).
DROP INDEX search_docs_tsv;
CREATE INDEX search_docs_incident_tsv ON search_docs USING GIN (tsv) WHERE kind = 'incident'; -- engine's search index
CREATE INDEX search_docs_contact_tsv ON search_docs USING GIN (tsv) WHERE kind = 'contact'; -- engine's search index
CREATE INDEX search_docs_article_tsv ON search_docs USING GIN (tsv) WHERE kind = 'article'; -- engine's search index
