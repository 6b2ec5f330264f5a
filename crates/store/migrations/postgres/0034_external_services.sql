-- The outside services atiende depends on — each mailbox's reading and sending, each chat
-- account's sending — and whether they work: the last success, since when a run of failures
-- has lasted and its last error, and when administrators were told of that run (once per
-- run, after a configured time). Written by the worker as it talks to them; read by
-- Administración and /metrics.
CREATE TABLE external_services (
    service TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    ok_at BIGINT,
    failing_since BIGINT,
    failures BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    noticed_at BIGINT
);

-- A notification may be about an outside service (its key in external_services).
ALTER TABLE notifications ADD COLUMN service TEXT;
