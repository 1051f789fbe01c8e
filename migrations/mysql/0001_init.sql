-- amtsbote schema, MySQL / MariaDB dialect. Keep in step with ../sqlite and ../postgres:
-- the schema parity test (crates/core/tests/schema_parity.rs) compares the three.
-- Conventions (portable across the three backends): integer ids and flags are BIGINT,
-- times are epoch milliseconds (BIGINT), case-insensitive keys are app-side lowercase
-- shadow columns (`*_key`), never collations. Only BIGINT, VARCHAR(n) and TEXT are used,
-- because the sqlx `Any` driver decodes nothing else portably.
--
-- MySQL specifics:
-- * Every table is InnoDB, utf8mb4 with the *binary* collation utf8mb4_bin, on purpose:
--   uniqueness must be exact (a _ci collation would treat 'ä'/'a' or 'A'/'a' as duplicates);
--   case-insensitivity is done app-side with the `*_key` columns.
-- * Foreign keys are written as table constraints: MySQL before 9.0 parses and silently
--   ignores column-level `REFERENCES`. They are named `<table>_<column>_fk`; InnoDB creates
--   an index of that name where no declared index starts with the column (the parity test
--   ignores those implicit indexes).
-- * Secondary indexes are declared inside CREATE TABLE so that InnoDB uses them for the
--   foreign keys instead of creating (and later silently dropping) implicit ones.
-- * Index key length: utf8mb4 is up to 4 bytes per character, so VARCHAR(255) is 1020 bytes;
--   the longest key here is nodes_sibling_uq (8 + 1020 bytes), well below the 3072-byte limit
--   of the DYNAMIC row format (MariaDB 10.11 / MySQL 8 default).
-- * TEXT holds at most 65,535 bytes here (unbounded in SQLite and PostgreSQL).

CREATE TABLE members (
    id BIGINT NOT NULL PRIMARY KEY,
    number VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    name_key VARCHAR(255) NOT NULL,
    postal_address TEXT NOT NULL,
    emails TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT members_number_uq UNIQUE (number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts (
    id BIGINT NOT NULL PRIMARY KEY,
    login VARCHAR(255) NOT NULL,
    login_key VARCHAR(255) NOT NULL,
    display_name VARCHAR(255) NOT NULL,
    email VARCHAR(320) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    role VARCHAR(16) NULL,
    member_id BIGINT NULL,
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NULL,
    deliveries_seen_at BIGINT NOT NULL,
    CONSTRAINT accounts_login_key_uq UNIQUE (login_key),
    INDEX accounts_member_idx (member_id),
    CONSTRAINT accounts_member_id_fk FOREIGN KEY (member_id) REFERENCES members (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE teams (
    id BIGINT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    name_key VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT teams_name_key_uq UNIQUE (name_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE team_members (
    team_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    PRIMARY KEY (team_id, account_id),
    CONSTRAINT team_members_team_id_fk FOREIGN KEY (team_id) REFERENCES teams (id),
    CONSTRAINT team_members_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE clerk_assignments (
    member_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    PRIMARY KEY (member_id, account_id),
    CONSTRAINT clerk_assignments_member_id_fk FOREIGN KEY (member_id) REFERENCES members (id),
    CONSTRAINT clerk_assignments_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE team_assignments (
    member_id BIGINT NOT NULL,
    team_id BIGINT NOT NULL,
    PRIMARY KEY (member_id, team_id),
    CONSTRAINT team_assignments_member_id_fk FOREIGN KEY (member_id) REFERENCES members (id),
    CONSTRAINT team_assignments_team_id_fk FOREIGN KEY (team_id) REFERENCES teams (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE spaces (
    id BIGINT NOT NULL PRIMARY KEY,
    member_id BIGINT NOT NULL,
    root_id BIGINT NOT NULL,
    used_bytes BIGINT NOT NULL,
    quota_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT spaces_member_uq UNIQUE (member_id),
    CONSTRAINT spaces_member_id_fk FOREIGN KEY (member_id) REFERENCES members (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE nodes (
    id BIGINT NOT NULL PRIMARY KEY,
    space_id BIGINT NOT NULL,
    parent_id BIGINT NULL,
    name VARCHAR(255) NOT NULL,
    name_key VARCHAR(255) NOT NULL,
    kind VARCHAR(8) NOT NULL,
    policy_key VARCHAR(255) NOT NULL,
    structural BIGINT NOT NULL,
    origin VARCHAR(16) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NULL,
    content_type VARCHAR(255) NULL,
    blob_id VARCHAR(64) NULL,
    etag VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    created_by BIGINT NULL,
    created_by_name VARCHAR(255) NOT NULL,
    modified_at BIGINT NOT NULL,
    modified_by BIGINT NULL,
    modified_by_name VARCHAR(255) NOT NULL,
    CONSTRAINT nodes_sibling_uq UNIQUE (parent_id, name_key),
    INDEX nodes_space_idx (space_id, kind, origin, created_at),
    CONSTRAINT nodes_space_id_fk FOREIGN KEY (space_id) REFERENCES spaces (id),
    CONSTRAINT nodes_parent_id_fk FOREIGN KEY (parent_id) REFERENCES nodes (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE node_versions (
    id BIGINT NOT NULL PRIMARY KEY,
    node_id BIGINT NOT NULL,
    space_id BIGINT NOT NULL,
    blob_id VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    content_type VARCHAR(255) NULL,
    created_at BIGINT NOT NULL,
    created_by_name VARCHAR(255) NOT NULL,
    replaced_at BIGINT NOT NULL,
    replaced_by_name VARCHAR(255) NOT NULL,
    INDEX node_versions_node_idx (node_id),
    CONSTRAINT node_versions_node_id_fk FOREIGN KEY (node_id) REFERENCES nodes (id),
    CONSTRAINT node_versions_space_id_fk FOREIGN KEY (space_id) REFERENCES spaces (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    csrf_token VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL,
    INDEX sessions_account_idx (account_id),
    CONSTRAINT sessions_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(64) NOT NULL,
    recipients TEXT NOT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL,
    INDEX outbox_due_idx (status, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Append-only audit trail. prev_hash/hash stay NULL until hash-chaining is added;
-- the columns exist now so that chaining needs no table rewrite.
CREATE TABLE audit_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_kind VARCHAR(16) NOT NULL,
    actor_id BIGINT NULL,
    actor_label VARCHAR(255) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target TEXT NOT NULL,
    member_id BIGINT NULL,
    outcome VARCHAR(16) NOT NULL,
    detail TEXT NOT NULL,
    source_ip VARCHAR(64) NULL,
    prev_hash VARCHAR(64) NULL,
    hash VARCHAR(64) NULL,
    INDEX audit_log_at_idx (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
