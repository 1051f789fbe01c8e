-- The request an audit entry came from (crates/server/src/request_id.rs): the client's
-- X-Request-Id when it sent a sane one (the sync clients do), else one the server made.
-- NULL for what the server did by itself. The chain's canonical encoding has the key
-- only when it is set, so entries written before this column verify as they did.
ALTER TABLE audit_log ADD COLUMN request_id VARCHAR(64);
