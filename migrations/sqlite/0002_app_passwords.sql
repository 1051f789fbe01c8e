-- App passwords for WebDAV and the ownCloud/Nextcloud clients. The secret is random
-- (about 115 bits), so a SHA-256 of it is enough at rest (no Argon2 needed: nothing to
-- guess); `lookup` is the public first group of the token and finds the row.
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
