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

CREATE TRIGGER audit_prunes_whole_epochs BEFORE INSERT ON audit_prunes
WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE epoch = NEW.epoch AND size = NEW.below_seq AND root = NEW.last_hash)
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.entry_id AND action = 'audit.pruned' AND target = 'audit:epoch:' || NEW.epoch)
  OR NEW.below_seq <= (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes)
BEGIN SELECT RAISE(ABORT, 'audit_prunes: only the end of a sealed epoch, after its audit.pruned entry'); END;
CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes
BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only'); END;
CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes
BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only'); END;

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_prune_only BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = OLD.id AND c.seq < (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes))
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: only whole pruned epochs are removed'); END;
DROP TRIGGER audit_chain_no_delete;
CREATE TRIGGER audit_chain_prune_only BEFORE DELETE ON audit_chain
WHEN OLD.seq >= (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes)
  OR EXISTS (SELECT 1 FROM audit_log a WHERE a.id = OLD.entry_id)
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only: only whole pruned epochs are removed'); END;
