-- MD5 of every file, next to SHA-1: rclone's owncloud profile compares MD5 first and
-- reports "hash could not be checked" without it. Files stored before stay NULL until
-- they are uploaded again.
ALTER TABLE nodes ADD COLUMN md5 VARCHAR(32) NULL;
ALTER TABLE node_versions ADD COLUMN md5 VARCHAR(32) NULL;
