-- 0006: adopting and held.
-- A cluster that has never been started adopts the fleet that enrols
-- into it: its nodes keep running what they run (nothing is stopped) until
-- the first start or resume. A database that already ran its fleet is not
-- adopting.
ALTER TABLE cluster ADD COLUMN adopting INTEGER NOT NULL DEFAULT 0
  CHECK (adopting IN (0, 1));
UPDATE cluster SET adopting = 1
  WHERE state = 'stopped' AND current_version IS NULL AND current_config IS NULL
    AND NOT EXISTS (SELECT 1 FROM rollouts)
    AND NOT EXISTS (SELECT 1 FROM history WHERE action IN ('start', 'resume', 'shutdown'));

-- Why the controller holds the fleet (NULL: it does not): it found its
-- database older than what a node was told (a backup restored), so nothing
-- moves until the operator resumes a gated rollout.
ALTER TABLE cluster ADD COLUMN held TEXT;
