-- The queue's counts (PostgreSQL). Keep in step with ../sqlite/0012_queue_tally.sql.
-- Counting the open queue on every page grew with its size (a backlog of 100,000 open incidents
-- made each queue page read them all). The engine keeps the counts instead, per state and
-- assignee, with every change to an incident whatever the write path; a page sums a few rows.
--
-- Each server process (`backend`, pg_backend_pid()) moves only its own rows: a process runs
-- one transaction at a time, so two transactions never wait on the same counter (one shared row
-- per state would serialise every intake and could deadlock two transactions that move the
-- same two counters in opposite order). Rows of processes that have ended are folded into
-- backend 0 by `Store::fold_queue_tally`. `assignee` 0 means unassigned.
-- Writers (an instance of the previous version still running) wait until the counts and the
-- triggers that keep them exist, so that no incident is missed between the two.
LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE;

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

CREATE FUNCTION queue_tally_move() RETURNS trigger LANGUAGE plpgsql AS $$ -- engine's own trigger syntax
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('open', 'waiting_unit') THEN
        INSERT INTO queue_tally (backend, status, assignee, n)
        VALUES (pg_backend_pid(), OLD.status, COALESCE(OLD.assigned_to, 0), -1)
        ON CONFLICT (backend, status, assignee) DO UPDATE SET n = queue_tally.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('open', 'waiting_unit') THEN
        INSERT INTO queue_tally (backend, status, assignee, n)
        VALUES (pg_backend_pid(), NEW.status, COALESCE(NEW.assigned_to, 0), 1)
        ON CONFLICT (backend, status, assignee) DO UPDATE SET n = queue_tally.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER queue_tally_insert AFTER INSERT ON incidents FOR EACH ROW -- engine's own trigger syntax
WHEN (NEW.status IN ('open', 'waiting_unit')) EXECUTE FUNCTION queue_tally_move();

CREATE TRIGGER queue_tally_update AFTER UPDATE OF status, assigned_to ON incidents FOR EACH ROW -- engine's own trigger syntax
WHEN ((OLD.status IS DISTINCT FROM NEW.status OR OLD.assigned_to IS DISTINCT FROM NEW.assigned_to)
  AND (OLD.status IN ('open', 'waiting_unit') OR NEW.status IN ('open', 'waiting_unit')))
EXECUTE FUNCTION queue_tally_move();

CREATE TRIGGER queue_tally_delete AFTER DELETE ON incidents FOR EACH ROW -- engine's own trigger syntax
WHEN (OLD.status IN ('open', 'waiting_unit')) EXECUTE FUNCTION queue_tally_move();

-- Critical incidents still waiting for top management are few; their count reads only them.
CREATE INDEX incidents_critical_open ON incidents (id) WHERE critical = 1 AND status IN ('open', 'waiting_unit');
