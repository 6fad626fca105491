-- 0007 (PostgreSQL twin): bounded enrolment tokens.
ALTER TABLE tokens ADD COLUMN uses_left BIGINT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN names TEXT;
