-- The tamper-evident audit log (crates/core/src/audit/chain.rs): every audit_log row is
-- chained in order of `seq` (gap-free) by the hash of its canonical encoding and of the
-- previous link; a signed checkpoint closes each epoch. All three tables are append-only:
-- the triggers refuse UPDATE and DELETE for every role (README, Security: also revoke
-- UPDATE and DELETE from the application's role).
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

CREATE FUNCTION amtsbote_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();
