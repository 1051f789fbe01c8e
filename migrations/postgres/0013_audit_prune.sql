-- Pruning of the audit log by whole epochs (crates/core/src/audit/prune.rs). A row of
-- audit_log or audit_chain may be deleted only below the horizon that audit_prunes
-- records, and a horizon can be recorded only at the end of a sealed epoch (its size and
-- root as the checkpoint says) and only after the `audit.pruned` entry naming it was
-- written (its target `audit:epoch:<n>`). Seals are never deleted, so the first kept entry still follows a signed value.
CREATE TABLE audit_prunes (
    epoch BIGINT PRIMARY KEY NOT NULL,
    below_seq BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    last_hash VARCHAR(64) NOT NULL,
    at BIGINT NOT NULL,
    entry_id BIGINT NOT NULL
);

CREATE FUNCTION amtsbote_prune_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE epoch = NEW.epoch AND size = NEW.below_seq AND root = NEW.last_hash)
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.entry_id AND action = 'audit.pruned' AND target = 'audit:epoch:' || NEW.epoch)
       OR NEW.below_seq <= (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes) THEN
        RAISE EXCEPTION 'audit_prunes: only the end of a sealed epoch, after its audit.pruned entry';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_prunes_whole_epochs BEFORE INSERT ON audit_prunes
    FOR EACH ROW EXECUTE FUNCTION amtsbote_prune_record();
CREATE TRIGGER audit_prunes_append_only BEFORE UPDATE OR DELETE ON audit_prunes
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();

CREATE FUNCTION amtsbote_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    horizon BIGINT := (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes);
BEGIN
    IF TG_TABLE_NAME = 'audit_log' THEN
        IF NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = OLD.id AND c.seq < horizon) THEN
            RAISE EXCEPTION 'audit_log is append-only: only whole pruned epochs are removed';
        END IF;
    ELSIF OLD.seq >= horizon OR EXISTS (SELECT 1 FROM audit_log a WHERE a.id = OLD.entry_id) THEN
        RAISE EXCEPTION 'audit_chain is append-only: only whole pruned epochs are removed';
    END IF;
    RETURN OLD;
END;
$$;
DROP TRIGGER audit_log_append_only ON audit_log;
DROP TRIGGER audit_chain_append_only ON audit_chain;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION amtsbote_append_only();
CREATE TRIGGER audit_log_prune_only BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION amtsbote_prune_only();
CREATE TRIGGER audit_chain_prune_only BEFORE DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION amtsbote_prune_only();
