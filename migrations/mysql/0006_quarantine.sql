-- Infected uploads kept for inspection (scan.on_infected = "quarantine"): readable by
-- admins only, removed by the cleanup job once expires_at has passed. Removing the member
-- removes its quarantined files with it.
CREATE TABLE quarantine (
    id BIGINT NOT NULL PRIMARY KEY,
    blob_id VARCHAR(64) NOT NULL,
    member_id BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    folder VARCHAR(1024) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    signature VARCHAR(255) NOT NULL,
    uploaded_by VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    INDEX quarantine_expires_idx (expires_at),
    CONSTRAINT quarantine_member_id_fk FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
