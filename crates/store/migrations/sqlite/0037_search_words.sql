-- The words the search index holds (SQLite). Keep in step with
-- ../postgres/0037_search_words.sql.
-- Nothing to do here: FTS5 reads a word's beginning from its own ordered terms.
SELECT 1;
