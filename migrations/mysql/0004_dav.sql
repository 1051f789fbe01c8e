-- What the WebDAV door keeps besides the tree: dead properties (PROPPATCH), write locks
-- (in the database, so that several nodes of a cluster agree on them) and chunked upload
-- sessions (chunking NG and v1). Chunks are staging data: stored as blobs, never visible
-- in a space, removed after assembly or when abandoned. Conventions: see 0001_init.sql.
CREATE TABLE dav_props (
    node_id BIGINT NOT NULL,
    ns VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (node_id, ns, name),
    CONSTRAINT dav_props_node_id_fk FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A lock is on a path inside a space (RFC 4918 locks names, not nodes); `path_key` is the
-- path with every segment lowercased, the form the tree compares names in.
CREATE TABLE dav_locks (
    token VARCHAR(100) NOT NULL PRIMARY KEY,
    space_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    path_key TEXT NOT NULL,
    deep BIGINT NOT NULL,
    exclusive BIGINT NOT NULL,
    owner TEXT NULL,
    principal VARCHAR(100) NOT NULL,
    timeout_ms BIGINT NULL,
    expires_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    INDEX dav_locks_space_idx (space_id),
    CONSTRAINT dav_locks_space_id_fk FOREIGN KEY (space_id) REFERENCES spaces (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE dav_uploads (
    id BIGINT NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    session VARCHAR(255) NOT NULL,
    total_len BIGINT NULL,
    created_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL,
    CONSTRAINT dav_uploads_session_uq UNIQUE (account_id, session),
    CONSTRAINT dav_uploads_account_id_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE dav_upload_chunks (
    upload_id BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    blob_id VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, name),
    CONSTRAINT dav_upload_chunks_upload_id_fk FOREIGN KEY (upload_id) REFERENCES dav_uploads (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
