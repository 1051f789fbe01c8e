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
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER audit_prunes_whole_epochs BEFORE INSERT ON audit_prunes FOR EACH ROW
    IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE epoch = NEW.epoch AND size = NEW.below_seq AND root = NEW.last_hash)
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.entry_id AND action = 'audit.pruned' AND target = CONCAT('audit:epoch:', NEW.epoch))
       OR NEW.below_seq <= (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_prunes: only the end of a sealed epoch, after its audit.pruned entry';
    END IF;
CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_prunes is append-only';
CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_prunes is append-only';

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_prune_only BEFORE DELETE ON audit_log FOR EACH ROW
    IF NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = OLD.id AND c.seq < (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes)) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_log is append-only: only whole pruned epochs are removed';
    END IF;
DROP TRIGGER audit_chain_no_delete;
CREATE TRIGGER audit_chain_prune_only BEFORE DELETE ON audit_chain FOR EACH ROW
    IF OLD.seq >= (SELECT COALESCE(MAX(below_seq), 0) FROM audit_prunes)
       OR EXISTS (SELECT 1 FROM audit_log a WHERE a.id = OLD.entry_id) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_chain is append-only: only whole pruned epochs are removed';
    END IF;
