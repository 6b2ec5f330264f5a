-- Suggestions learned from the CAP's history (domain `suggestion`): the trained model (word
-- stems counted per label, as JSON, with its held-out accuracy), and what was suggested for
-- each incident the first time an agent opened it, with what the agent then chose.
CREATE TABLE suggestion_models (
    id INTEGER PRIMARY KEY,
    trained_at BIGINT NOT NULL,
    examples BIGINT NOT NULL,
    model TEXT NOT NULL
);

CREATE TABLE incident_suggestions (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id),
    model_id BIGINT NOT NULL,
    -- The first guesses shown (none when too uncertain to show), probabilities in percent.
    topic_id BIGINT,
    topic_percent BIGINT,
    incident_type TEXT,
    type_percent BIGINT,
    critical_percent BIGINT NOT NULL,
    -- 'confirmed' or 'corrected' once the agent first classified it.
    topic_outcome TEXT,
    type_outcome TEXT,
    critical_outcome TEXT,
    suggested_at BIGINT NOT NULL,
    classified_at BIGINT
);
CREATE INDEX incident_suggestions_classified ON incident_suggestions (classified_at);
