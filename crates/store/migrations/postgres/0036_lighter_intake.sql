-- Fewer indexes written with each new incident (PostgreSQL). Keep in step with
-- ../sqlite/0036_lighter_intake.sql.

-- Read by no query.
DROP INDEX incident_facts_month;

-- `incident_clocks_running` (due_at, incident_id WHERE due_at IS NOT NULL) answers every
-- comparison of a due instant: a comparison is never true of NULL.
DROP INDEX incident_clocks_due;
