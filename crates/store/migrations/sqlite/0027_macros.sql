-- Macros: the whole of a frequent case in one step (classify, answer from a canned response,
-- intervention notes, close or derive), the CAP's (no owner) or a person's own. The steps are
-- the domain's `MacroSteps` as JSON.
CREATE TABLE macros (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    steps TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id),
    archived INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX macros_owner ON macros (owner_id, archived);
