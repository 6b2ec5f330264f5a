-- The queue's tools: each person's saved views (a name and the queue's filters as a query
-- string), and incidents closed as a duplicate of another, or merged into it (the same
-- person's: its timeline is then shown with the other's).
CREATE TABLE saved_views (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX saved_views_user ON saved_views (user_id);

ALTER TABLE incidents ADD COLUMN duplicate_of BIGINT REFERENCES incidents (id);
ALTER TABLE incidents ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_duplicate_of ON incidents (duplicate_of) WHERE duplicate_of IS NOT NULL;
