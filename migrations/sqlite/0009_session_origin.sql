-- Where and when a session was active, so that its holder (and admins) can recognise
-- and end it: a public id for forms (the token's hash stays internal), the client
-- address and browser at log-in. Sessions from before stay without them.
ALTER TABLE sessions ADD COLUMN public_id VARCHAR(32) NULL;
ALTER TABLE sessions ADD COLUMN ip VARCHAR(64) NULL;
ALTER TABLE sessions ADD COLUMN user_agent VARCHAR(255) NULL;
