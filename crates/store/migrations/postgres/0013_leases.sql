-- Named leases: work one instance at a time must do (reading a mailbox, the day's retention
-- run, the scheduled checks), taken by a row that expires. Replaces the mailbox's own lease
-- columns and the retention run's setting.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
ALTER TABLE mailboxes DROP COLUMN lease_owner;
ALTER TABLE mailboxes DROP COLUMN lease_until;
DELETE FROM settings WHERE key = 'retention_last_run';
