-- Search documents of incidents and contacts indexed by period (SQLite). Keep in step with
-- ../postgres/0035_search_by_period.sql.
-- Nothing to do here: FTS5 reads a word's matches newest first by rowid.
SELECT 1;
