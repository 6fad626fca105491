-- 0003 (PostgreSQL twin): the strategy `upgrade` planned with, and --force.
ALTER TABLE cluster ADD COLUMN target_strategy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cluster ADD COLUMN target_forced INTEGER NOT NULL DEFAULT 0
  CHECK (target_forced IN (0, 1));
