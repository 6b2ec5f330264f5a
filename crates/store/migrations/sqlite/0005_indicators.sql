-- Indicator rollups (SQLite). Keep in step with ../postgres/0005_indicators.sql.

-- What each incident contributes to the indicators, as last counted (JSON IncidentFacts), so
-- that a change subtracts the old contribution and adds the new one.
CREATE TABLE incident_facts (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    month INTEGER NOT NULL,
    facts TEXT NOT NULL
);
CREATE INDEX incident_facts_month ON incident_facts (month);

-- Counters per month and breakdown (dimension '' value for the month's total), kept in step
-- with every change of an incident: a dashboard reads a few rows per month, never incidents.
CREATE TABLE indicator_rollup (
    month INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    incidents INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    fcr INTEGER NOT NULL DEFAULT 0,
    derived INTEGER NOT NULL DEFAULT 0,
    complaints INTEGER NOT NULL DEFAULT 0,
    surveys_sent INTEGER NOT NULL DEFAULT 0,
    surveys_answered INTEGER NOT NULL DEFAULT 0,
    satisfied INTEGER NOT NULL DEFAULT 0,
    score_sum INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, dimension, value)
);

-- Histograms of durations (minutes, see atiende_domain::indicators::duration_bucket) per
-- month, for exact medians and percentiles at that resolution.
CREATE TABLE duration_rollup (
    metric TEXT NOT NULL,
    month INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, metric, minutes)
);
