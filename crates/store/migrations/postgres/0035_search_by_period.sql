-- Search documents of incidents and contacts indexed by period as well as by word (PostgreSQL).
-- Keep in step with ../sqlite/0035_search_by_period.sql.
-- A search ranks the newest 2,000 matches of its words. GIN hands matches over in no order,
-- so a word common in the history but rare among the newest documents (a day's intake that
-- seldom says "inscripción") made PostgreSQL read each of its ~100,000 matches from the table
-- to find the newest (0.4–0.56 s at a million incidents). Keyed also by the period of the
-- record's id (16,384 ids, `search::postgres::PERIOD`), the index gives the matches of the
-- newest periods alone. btree_gin lets a GIN index hold the number; like unaccent, it ships
-- with PostgreSQL and a database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gin; -- engine's search index
DROP INDEX search_docs_incident_tsv;
DROP INDEX search_docs_contact_tsv;
CREATE INDEX search_docs_incident_period_tsv ON search_docs USING GIN ((ref_id / 16384), tsv) WHERE kind = 'incident'; -- engine's search index
CREATE INDEX search_docs_contact_period_tsv ON search_docs USING GIN ((ref_id / 16384), tsv) WHERE kind = 'contact'; -- engine's search index
