-- One-time passwords (activation codes, sent by letter post) run out: after
-- letters.activation_days the code no longer signs in, and the holder is told whom to
-- call. NULL: no code pending.
ALTER TABLE accounts ADD COLUMN activation_expires_at BIGINT NULL;
