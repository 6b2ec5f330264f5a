-- Indicator rollups (PostgreSQL). Keep in step with ../sqlite/0005_indicators.sql.

-- What each incident contributes to the indicators, as last counted (JSON IncidentFacts), so
-- that a change subtracts the old contribution and adds the new one.
CREATE TABLE incident_facts (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id),
    month BIGINT NOT NULL,
    facts TEXT NOT NULL
);
CREATE INDEX incident_facts_month ON incident_facts (month);

-- Counters per month and breakdown (dimension '' value for the month's total), kept in step
-- with every change of an incident: a dashboard reads a few rows per month, never incidents.
CREATE TABLE indicator_rollup (
    month BIGINT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    incidents BIGINT NOT NULL DEFAULT 0,
    closed BIGINT NOT NULL DEFAULT 0,
    fcr BIGINT NOT NULL DEFAULT 0,
    derived BIGINT NOT NULL DEFAULT 0,
    complaints BIGINT NOT NULL DEFAULT 0,
    surveys_sent BIGINT NOT NULL DEFAULT 0,
    surveys_answered BIGINT NOT NULL DEFAULT 0,
    satisfied BIGINT NOT NULL DEFAULT 0,
    score_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, dimension, value)
);

-- Histograms of durations (minutes, see atiende_domain::indicators::duration_bucket) per
-- month, for exact medians and percentiles at that resolution.
CREATE TABLE duration_rollup (
    metric TEXT NOT NULL,
    month BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, metric, minutes)
);
