-- 0003: what `upgrade` decided besides the target (the rollout strategy it was
-- planned with, whether it was forced), kept until `resume` carries it out.
ALTER TABLE cluster ADD COLUMN target_strategy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cluster ADD COLUMN target_forced INTEGER NOT NULL DEFAULT 0
  CHECK (target_forced IN (0, 1));
