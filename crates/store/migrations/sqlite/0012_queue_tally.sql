-- The queue's counts (SQLite). Keep in step with ../postgres/0012_queue_tally.sql.
-- Counting the open queue on every page grew with its size (a backlog of 100,000 open incidents
-- made each queue page read them all). The engine keeps the counts instead, per state and
-- assignee, with every change to an incident whatever the write path; a page sums a few rows.
-- `backend` is PostgreSQL's server process (see there); SQLite has one writer and uses 0.
-- `assignee` 0 means unassigned.
CREATE TABLE queue_tally (
    backend BIGINT NOT NULL,
    status TEXT NOT NULL,
    assignee BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (backend, status, assignee)
);

INSERT INTO queue_tally (backend, status, assignee, n)
SELECT 0, status, COALESCE(assigned_to, 0), COUNT(*) FROM incidents
WHERE status IN ('open', 'waiting_unit') GROUP BY status, COALESCE(assigned_to, 0);

CREATE TRIGGER queue_tally_insert AFTER INSERT ON incidents -- engine's own trigger syntax
WHEN NEW.status IN ('open', 'waiting_unit')
BEGIN
    INSERT INTO queue_tally (backend, status, assignee, n)
    VALUES (0, NEW.status, COALESCE(NEW.assigned_to, 0), 1)
    ON CONFLICT (backend, status, assignee) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER queue_tally_update AFTER UPDATE OF status, assigned_to ON incidents -- engine's own trigger syntax
WHEN (OLD.status IS NOT NEW.status OR OLD.assigned_to IS NOT NEW.assigned_to)
 AND (OLD.status IN ('open', 'waiting_unit') OR NEW.status IN ('open', 'waiting_unit'))
BEGIN
    UPDATE queue_tally SET n = n - 1
    WHERE OLD.status IN ('open', 'waiting_unit')
      AND backend = 0 AND status = OLD.status AND assignee = COALESCE(OLD.assigned_to, 0);
    INSERT INTO queue_tally (backend, status, assignee, n)
    SELECT 0, NEW.status, COALESCE(NEW.assigned_to, 0), 1 WHERE NEW.status IN ('open', 'waiting_unit')
    ON CONFLICT (backend, status, assignee) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER queue_tally_delete AFTER DELETE ON incidents -- engine's own trigger syntax
WHEN OLD.status IN ('open', 'waiting_unit')
BEGIN
    UPDATE queue_tally SET n = n - 1
    WHERE backend = 0 AND status = OLD.status AND assignee = COALESCE(OLD.assigned_to, 0);
END;

-- Critical incidents still waiting for top management are few; their count reads only them.
CREATE INDEX incidents_critical_open ON incidents (id) WHERE critical = 1 AND status IN ('open', 'waiting_unit');
