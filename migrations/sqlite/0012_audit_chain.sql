-- The tamper-evident audit log (crates/core/src/audit/chain.rs): every audit_log row is
-- chained in order of `seq` (gap-free) by the hash of its canonical encoding and of the
-- previous link; a signed checkpoint closes each epoch. All three tables are append-only:
-- these triggers refuse UPDATE and DELETE for everyone who goes through SQLite.
CREATE TABLE audit_chain (
    seq BIGINT PRIMARY KEY NOT NULL,
    entry_id BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL
);
CREATE UNIQUE INDEX audit_chain_entry_idx ON audit_chain (entry_id);

CREATE TABLE audit_checkpoints (
    epoch BIGINT PRIMARY KEY NOT NULL,
    first_seq BIGINT NOT NULL,
    size BIGINT NOT NULL,
    root VARCHAR(64) NOT NULL,
    at BIGINT NOT NULL,
    note TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
