-- 0004 (PostgreSQL twin): `shutdown --flush`.
ALTER TABLE cluster ADD COLUMN stop_flush INTEGER NOT NULL DEFAULT 0
  CHECK (stop_flush IN (0, 1));
