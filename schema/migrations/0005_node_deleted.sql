-- 0005: a node the operator deleted (`logctl node delete`) stays in the table
-- for the history and old rollouts' steps, marked with when; it is in no list,
-- plan or check, and the name may enrol again (which clears the mark).
ALTER TABLE nodes ADD COLUMN deleted_at INTEGER;
