-- What the sync clients need on every file: the SHA-1 they check (`oc:checksums`,
-- `OC-Checksum`) and the modification time they set (`X-OC-Mtime`, rclone's
-- `lastmodified`), separate from the server's own `modified_at`.
ALTER TABLE nodes ADD COLUMN sha1 VARCHAR(40) NULL;
ALTER TABLE nodes ADD COLUMN mtime BIGINT NULL;
ALTER TABLE node_versions ADD COLUMN sha1 VARCHAR(40) NULL;
