-- Notifications. An outbox row (written in the transaction of its cause) names an event;
-- one node at a time (the holder of the `notify.fanout` lease in job_leases) turns it into
-- mails: one per recipient, per space and per window, the event's document an item of it.
-- A due mail is claimed with a lease by the node that sends it, retried with backoff, and
-- dead-lettered after notify.max_attempts. Items name their node, so a document deleted
-- before the mail goes out is not announced.
CREATE TABLE mails (
    id BIGINT PRIMARY KEY NOT NULL,
    recipient VARCHAR(320) NOT NULL,
    recipient_key VARCHAR(320) NOT NULL,
    account_id BIGINT NULL,
    lang VARCHAR(8) NOT NULL,
    template VARCHAR(64) NOT NULL,
    member_id BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NULL,
    lease_holder VARCHAR(64) NULL,
    last_error TEXT NULL,
    sent_at BIGINT NULL,
    item_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX mails_due_idx ON mails (status, next_attempt_at);
CREATE INDEX mails_open_idx ON mails (recipient_key, template, member_id, status);

CREATE TABLE mail_items (
    mail_id BIGINT NOT NULL REFERENCES mails (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    space_id BIGINT NULL,
    folder_id BIGINT NULL,
    node_id BIGINT NULL,
    name VARCHAR(255) NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mail_id, event_id)
);

CREATE TABLE job_leases (
    name VARCHAR(64) PRIMARY KEY NOT NULL,
    holder VARCHAR(64) NOT NULL,
    lease_until BIGINT NOT NULL
);
INSERT INTO job_leases (name, holder, lease_until) VALUES ('notify.fanout', '', 0);

-- What each account chose on its notifications page, and the authority-side mailboxes
-- (e.g. a team's functional address) that hear of one member's deliveries.
ALTER TABLE accounts ADD COLUMN notify_digest BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN mail_lang VARCHAR(8) NOT NULL DEFAULT 'de';
ALTER TABLE members ADD COLUMN authority_emails VARCHAR(2000) NOT NULL DEFAULT '';

-- Events written before this release carry the old payload and were never sent: they
-- are kept for the record, not mailed now, long after the fact.
UPDATE outbox SET status = 'legacy' WHERE status = 'pending';
