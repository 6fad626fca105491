-- 0006 (PostgreSQL twin): adopting and held.
ALTER TABLE cluster ADD COLUMN adopting INTEGER NOT NULL DEFAULT 0
  CHECK (adopting IN (0, 1));
UPDATE cluster SET adopting = 1
  WHERE state = 'stopped' AND current_version IS NULL AND current_config IS NULL
    AND NOT EXISTS (SELECT 1 FROM rollouts)
    AND NOT EXISTS (SELECT 1 FROM history WHERE action IN ('start', 'resume', 'shutdown'));
ALTER TABLE cluster ADD COLUMN held TEXT;
