-- The nonconformity register (SQLite). Keep in step with ../postgres/0006_nonconformities.sql.

CREATE TABLE nonconformities (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents (id),
    criterion TEXT NOT NULL,
    detected_at INTEGER NOT NULL,
    detected_month INTEGER NOT NULL,
    description TEXT NOT NULL,
    disposition TEXT NOT NULL DEFAULT '',
    corrective_action TEXT NOT NULL DEFAULT '',
    responsible TEXT NOT NULL DEFAULT '',
    due_date TEXT,
    effectiveness TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    updated_at INTEGER NOT NULL
);
-- An automatic finding is registered once per incident and criterion, however many workers
-- look for it; entries added by hand are not limited.
CREATE UNIQUE INDEX nonconformities_finding ON nonconformities (incident_id, criterion) WHERE criterion <> 'manual';
CREATE INDEX nonconformities_month ON nonconformities (detected_month, status);
