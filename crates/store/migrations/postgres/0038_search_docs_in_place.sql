-- A document rewritten in place (PostgreSQL). Keep in step with
-- ../sqlite/0038_search_docs_in_place.sql.
-- A changed document was deleted and inserted again, and the insert went wherever the free
-- space map found room: after a day of answers the newest 10,000 incidents' documents lay
-- on 7,400 pages instead of 735, and the search's walk over them (`search::postgres`) read
-- ten times the pages it needed — twice the time warm, and shared buffers crowded out. A
-- rewrite is now an update, which PostgreSQL keeps on the row's own page when that page has
-- room: new pages keep a fifth of their space for it.
ALTER TABLE search_docs SET (fillfactor = 80); -- engine's search index
-- The words of a rewritten document enter the list of words as an inserted one's do.
CREATE TRIGGER search_docs_words_rewritten AFTER UPDATE ON search_docs -- engine's search index
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION search_words_keep();
