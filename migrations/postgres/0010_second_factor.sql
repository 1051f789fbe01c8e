-- The second factor: a TOTP secret per account (RFC 6238; confirmed_at NULL while the
-- holder has not yet entered a first code), the last time step used (a code is never
-- accepted twice), and ten one-time recovery codes, stored as hashes. A session waits
-- for the second factor before it counts as signed in.
CREATE TABLE totp_secrets (
    account_id BIGINT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret VARCHAR(64) NOT NULL,
    confirmed_at BIGINT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id BIGINT PRIMARY KEY NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash VARCHAR(64) NOT NULL,
    used_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX recovery_codes_account_idx ON recovery_codes (account_id);

ALTER TABLE sessions ADD COLUMN second_factor_pending BIGINT NOT NULL DEFAULT 0;
