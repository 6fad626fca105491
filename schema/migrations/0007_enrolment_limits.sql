-- 0007: bounded enrolment tokens. An enrolment token may enrol at most
-- uses_left more nodes (NULL: no limit), until expires_at (Unix ms; NULL:
-- never), and only the names in `names` (a JSON array; NULL: any name).
ALTER TABLE tokens ADD COLUMN uses_left INTEGER;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN names TEXT;
