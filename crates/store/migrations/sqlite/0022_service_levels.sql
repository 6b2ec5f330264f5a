-- Service levels: each incident's clocks (first response, resolution), computed from its
-- history when it changes and kept as instants, so the queue shows and filters them and the
-- escalation job finds what is due by an index, never by scanning open incidents.
CREATE TABLE incident_clocks (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id),
    -- Every measure's clock as JSON (target, warning, due, paused time left, done).
    clocks TEXT NOT NULL,
    -- The earliest warning and due instant of a measure not yet met; NULL when none runs.
    warn_at BIGINT,
    due_at BIGINT,
    -- When the escalation job looks at the incident next (its next threshold not yet told).
    next_check_at BIGINT
);
CREATE INDEX incident_clocks_due ON incident_clocks (due_at);
CREATE INDEX incident_clocks_next_check ON incident_clocks (next_check_at);

-- A threshold told once: the warning and the breach of each measure's due instant (a new due
-- instant after a pause is told anew). The primary key makes two instances tell it once.
CREATE TABLE service_level_events (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    measure TEXT NOT NULL,
    threshold TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (incident_id, measure, threshold, due_at)
);

-- The indicator "% atendido dentro del tiempo comprometido": closed incidents that had a
-- resolution target, and those closed within it.
ALTER TABLE indicator_rollup ADD COLUMN resolution_measured BIGINT NOT NULL DEFAULT 0;
ALTER TABLE indicator_rollup ADD COLUMN resolution_in_time BIGINT NOT NULL DEFAULT 0;
