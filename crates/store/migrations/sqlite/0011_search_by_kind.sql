-- Search documents indexed by kind (SQLite). Keep in step with ../postgres/0011_search_by_kind.sql.
-- Nothing to do here: incidents, contacts and articles already have their own FTS5 tables.
SELECT 1;
