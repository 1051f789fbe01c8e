-- App passwords; see ../sqlite/0002_app_passwords.sql.
CREATE TABLE app_passwords (
    id BIGINT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    label VARCHAR(100) NOT NULL,
    lookup VARCHAR(16) NOT NULL,
    secret_hash VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    revoked BIGINT NOT NULL,
    CONSTRAINT app_passwords_lookup_uq UNIQUE (account_id, lookup),
    CONSTRAINT app_passwords_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
