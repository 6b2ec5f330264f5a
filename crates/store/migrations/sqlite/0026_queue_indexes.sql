-- The queue in due order walks the running clocks (those with a due instant: the open
-- incidents') earliest first, ties by incident; closed incidents are not in it.
CREATE INDEX incident_clocks_running ON incident_clocks (due_at, incident_id) WHERE due_at IS NOT NULL;
-- What waits on a unit's answer (the SIGA's count on every queue page): the unanswered
-- derivations, a few among the hundreds of thousands answered.
CREATE INDEX derivations_waiting ON derivations (unit_id, incident_id) WHERE answered_at IS NULL;
