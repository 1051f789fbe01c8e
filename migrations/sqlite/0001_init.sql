-- amtsbote schema, SQLite dialect. Keep in step with ../postgres and ../mysql:
-- the schema parity test compares the three.
-- Conventions (portable across the three backends): integer ids and flags are BIGINT,
-- times are epoch milliseconds (BIGINT), case-insensitive keys are app-side lowercase
-- shadow columns (`*_key`), never collations.

CREATE TABLE members (
    id BIGINT PRIMARY KEY NOT NULL,
    number VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    name_key VARCHAR(255) NOT NULL,
    postal_address TEXT NOT NULL,
    emails TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT members_number_uq UNIQUE (number)
);

CREATE TABLE accounts (
    id BIGINT PRIMARY KEY NOT NULL,
    login VARCHAR(255) NOT NULL,
    login_key VARCHAR(255) NOT NULL,
    display_name VARCHAR(255) NOT NULL,
    email VARCHAR(320) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    role VARCHAR(16) NULL,
    member_id BIGINT NULL REFERENCES members (id),
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NULL,
    deliveries_seen_at BIGINT NOT NULL,
    CONSTRAINT accounts_login_key_uq UNIQUE (login_key)
);
CREATE INDEX accounts_member_idx ON accounts (member_id);

CREATE TABLE teams (
    id BIGINT PRIMARY KEY NOT NULL,
    name VARCHAR(255) NOT NULL,
    name_key VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT teams_name_key_uq UNIQUE (name_key)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (team_id, account_id)
);

CREATE TABLE clerk_assignments (
    member_id BIGINT NOT NULL REFERENCES members (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (member_id, account_id)
);

CREATE TABLE team_assignments (
    member_id BIGINT NOT NULL REFERENCES members (id),
    team_id BIGINT NOT NULL REFERENCES teams (id),
    PRIMARY KEY (member_id, team_id)
);

CREATE TABLE spaces (
    id BIGINT PRIMARY KEY NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members (id),
    root_id BIGINT NOT NULL,
    used_bytes BIGINT NOT NULL,
    quota_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT spaces_member_uq UNIQUE (member_id)
);

CREATE TABLE nodes (
    id BIGINT PRIMARY KEY NOT NULL,
    space_id BIGINT NOT NULL REFERENCES spaces (id),
    parent_id BIGINT NULL REFERENCES nodes (id),
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
    CONSTRAINT nodes_sibling_uq UNIQUE (parent_id, name_key)
);
CREATE INDEX nodes_space_idx ON nodes (space_id, kind, origin, created_at);

CREATE TABLE node_versions (
    id BIGINT PRIMARY KEY NOT NULL,
    node_id BIGINT NOT NULL REFERENCES nodes (id),
    space_id BIGINT NOT NULL REFERENCES spaces (id),
    blob_id VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    content_type VARCHAR(255) NULL,
    created_at BIGINT NOT NULL,
    created_by_name VARCHAR(255) NOT NULL,
    replaced_at BIGINT NOT NULL,
    replaced_by_name VARCHAR(255) NOT NULL
);
CREATE INDEX node_versions_node_idx ON node_versions (node_id);

CREATE TABLE sessions (
    token_hash VARCHAR(64) PRIMARY KEY NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    csrf_token VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);
CREATE INDEX sessions_account_idx ON sessions (account_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind VARCHAR(64) NOT NULL,
    recipients TEXT NOT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

-- Append-only audit trail. prev_hash/hash stay NULL until hash-chaining is added;
-- the columns exist now so that chaining needs no table rewrite.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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
    hash VARCHAR(64) NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
