-- 0004: whether the last `shutdown` asked the nodes' workers to deliver every
-- buffer before they stop (`shutdown --flush`), not only what their
-- flush_at_shutdown says; part of the stopped cluster's desired state.
ALTER TABLE cluster ADD COLUMN stop_flush INTEGER NOT NULL DEFAULT 0
  CHECK (stop_flush IN (0, 1));
