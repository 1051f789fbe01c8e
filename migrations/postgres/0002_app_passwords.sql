-- App passwords; see ../sqlite/0002_app_passwords.sql.
CREATE TABLE app_passwords (
    id BIGINT PRIMARY KEY NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    label VARCHAR(100) NOT NULL,
    lookup VARCHAR(16) NOT NULL,
    secret_hash VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    revoked BIGINT NOT NULL,
    CONSTRAINT app_passwords_lookup_uq UNIQUE (account_id, lookup)
);
