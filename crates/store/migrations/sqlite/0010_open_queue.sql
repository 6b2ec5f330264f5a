-- The open queue (SQLite). Keep in step with ../postgres/0010_open_queue.sql.
-- Incidents not yet closed are a few thousand among millions: their own index serves the open
-- queue newest first and its counts without touching the closed history.
CREATE INDEX incidents_not_closed ON incidents (id, assigned_to, status, critical) WHERE status IN ('open', 'waiting_unit');
