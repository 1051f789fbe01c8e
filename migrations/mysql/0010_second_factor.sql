-- The second factor: a TOTP secret per account (RFC 6238; confirmed_at NULL while the
-- holder has not yet entered a first code), the last time step used (a code is never
-- accepted twice), and ten one-time recovery codes, stored as hashes. A session waits
-- for the second factor before it counts as signed in.
CREATE TABLE totp_secrets (
    account_id BIGINT NOT NULL PRIMARY KEY,
    secret VARCHAR(64) NOT NULL,
    confirmed_at BIGINT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT totp_secrets_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE recovery_codes (
    id BIGINT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    used_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    INDEX recovery_codes_account_idx (account_id),
    CONSTRAINT recovery_codes_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE sessions ADD COLUMN second_factor_pending BIGINT NOT NULL DEFAULT 0;
