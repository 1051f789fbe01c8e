-- Brute-force protection: failed sign-ins per login name ("login:<name>", whether the
-- account exists or not, so that the answers do not tell) and per client address
-- ("ip:<address>"). Growing delays after a few failures, a temporary lock after more;
-- a success clears the login's row, an expired row is reset at the next failure.
CREATE TABLE auth_failures (
    subject VARCHAR(400) PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until BIGINT NULL
);
