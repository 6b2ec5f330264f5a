-- Fewer b-trees written with each new incident (SQLite). Keep in step with
-- ../postgres/0036_lighter_intake.sql.
--
-- Every b-tree an incident's writes touch is at least one page in the log at each commit, and
-- the intake's commits are most of its time: 26 b-trees took 32 pages for a group of one.

-- Read by no query.
DROP INDEX incident_facts_month;

-- `incident_clocks_running` (due_at, incident_id WHERE due_at IS NOT NULL) answers every
-- comparison of a due instant: a comparison is never true of NULL.
DROP INDEX incident_clocks_due;

-- The clocks keyed by the incident's id as the table's own key: a `BIGINT PRIMARY KEY` is a
-- separate unique index beside the table in SQLite, an `INTEGER PRIMARY KEY` is the row's id.
CREATE TABLE incident_clocks_by_incident ( -- engine's own table rebuild
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    -- Every measure's clock as JSON (target, warning, due, paused time left, done).
    clocks TEXT NOT NULL,
    -- The earliest warning and due instant of a measure not yet met; NULL when none runs.
    warn_at BIGINT,
    due_at BIGINT,
    -- When the escalation job looks at the incident next (its next threshold not yet told).
    next_check_at BIGINT
);
INSERT INTO incident_clocks_by_incident (incident_id, clocks, warn_at, due_at, next_check_at)
    SELECT incident_id, clocks, warn_at, due_at, next_check_at FROM incident_clocks;
DROP TABLE incident_clocks;
ALTER TABLE incident_clocks_by_incident RENAME TO incident_clocks;
CREATE INDEX incident_clocks_next_check ON incident_clocks (next_check_at); -- engine's own table rebuild
CREATE INDEX incident_clocks_running ON incident_clocks (due_at, incident_id) WHERE due_at IS NOT NULL; -- engine's own table rebuild
