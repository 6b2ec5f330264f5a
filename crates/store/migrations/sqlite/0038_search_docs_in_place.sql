-- A document rewritten in place (SQLite). Keep in step with
-- ../postgres/0038_search_docs_in_place.sql.
-- Nothing to do here: FTS5 keeps no rows on pages of its own to keep together.
SELECT 1;
