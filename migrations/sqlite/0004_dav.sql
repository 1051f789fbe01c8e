-- What the WebDAV door keeps besides the tree: dead properties (PROPPATCH), write locks
-- (in the database, so that several nodes of a cluster agree on them) and chunked upload
-- sessions (chunking NG and v1). Chunks are staging data: stored as blobs, never visible
-- in a space, removed after assembly or when abandoned.
CREATE TABLE dav_props (
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    ns VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (node_id, ns, name)
);

-- A lock is on a path inside a space (RFC 4918 locks names, not nodes); `path_key` is the
-- path with every segment lowercased, the form the tree compares names in.
CREATE TABLE dav_locks (
    token VARCHAR(100) PRIMARY KEY NOT NULL,
    space_id BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    path_key TEXT NOT NULL,
    deep BIGINT NOT NULL,
    exclusive BIGINT NOT NULL,
    owner TEXT NULL,
    principal VARCHAR(100) NOT NULL,
    timeout_ms BIGINT NULL,
    expires_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dav_locks_space_idx ON dav_locks (space_id);

CREATE TABLE dav_uploads (
    id BIGINT PRIMARY KEY NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session VARCHAR(255) NOT NULL,
    total_len BIGINT NULL,
    created_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL,
    CONSTRAINT dav_uploads_session_uq UNIQUE (account_id, session)
);

CREATE TABLE dav_upload_chunks (
    upload_id BIGINT NOT NULL REFERENCES dav_uploads (id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    blob_id VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, name)
);
