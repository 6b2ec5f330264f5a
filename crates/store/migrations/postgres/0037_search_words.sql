-- The words the search index holds (PostgreSQL). Keep in step with ../sqlite/0037_search_words.sql.
-- A search box matches each word by its beginning (`inscrip` finds inscripción), and GIN
-- answers a beginning by reading the match list of every word that has it into a bitmap
-- first: 57 ms for two common beginnings at a million incidents, against 9 ms for the same
-- two whole words, whose lists it reads side by side, skipping. A query's beginnings are
-- spelled out as the whole words that have them (`search::postgres::whole_words`), looked up
-- here. A trigger keeps every word a document brings; a person's suppression takes out the
-- words of their data that no document holds any more (`search::forget_words`).
CREATE TABLE search_words ( -- engine's search index
    -- Byte order: the words beginning with a text follow it.
    word TEXT COLLATE "C" PRIMARY KEY
);
CREATE FUNCTION search_words_keep() RETURNS trigger LANGUAGE plpgsql AS $$ -- engine's search index
BEGIN
    -- Added in one order, so two writers bringing the same new words wait for each other
    -- instead of deadlocking.
    INSERT INTO search_words (word)
        SELECT DISTINCT w.lexeme FROM added, unnest(added.tsv) w ORDER BY 1
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_docs_words AFTER INSERT ON search_docs -- engine's search index
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION search_words_keep();
INSERT INTO search_words (word) SELECT DISTINCT w.lexeme FROM search_docs, unnest(search_docs.tsv) w;
