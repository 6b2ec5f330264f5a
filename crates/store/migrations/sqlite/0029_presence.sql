-- Who has an incident open in the console, and who is writing on it: each open page's live
-- stream marks its reader every few seconds, a keystroke in an answer or a note marks them as
-- writing; every instance reads the same rows, so agents on different instances see each
-- other. Rows of pages closed long ago are pruned by the worker.
CREATE TABLE incident_presence (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    seen_at BIGINT NOT NULL,
    typing_at BIGINT,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX incident_presence_seen ON incident_presence (seen_at);
