-- Each person's choice per kind of event: in the console, by email at once or in a daily
-- digest. No row: the kind's default.
CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    in_console INTEGER NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
-- A notification keeps how it was to be delivered when it was written ('immediate' or
-- 'digest'; NULL: not by email), and when its email was queued.
ALTER TABLE notifications ADD COLUMN in_console INTEGER NOT NULL DEFAULT 1;
ALTER TABLE notifications ADD COLUMN email TEXT;
ALTER TABLE notifications ADD COLUMN emailed_at BIGINT;
ALTER TABLE notifications ADD COLUMN nonconformity_id BIGINT REFERENCES nonconformities (id);
ALTER TABLE notifications ADD COLUMN article_id BIGINT REFERENCES articles (id);
CREATE INDEX notifications_email_due ON notifications (email, id) WHERE emailed_at IS NULL AND email IS NOT NULL;
-- Old notifications are forgotten by their age (`Store::prune_notifications`).
CREATE INDEX notifications_created ON notifications (created_at);
-- One digest per person and local day, however many workers look.
CREATE TABLE notification_digests (
    user_id BIGINT NOT NULL REFERENCES users (id),
    day TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
-- A nonconformity's responsible may be a person of the console, who is told.
ALTER TABLE nonconformities ADD COLUMN responsible_user_id BIGINT REFERENCES users (id);
-- The review date its owners were last told of (told once per date, across instances).
ALTER TABLE articles ADD COLUMN review_told_on TEXT;
