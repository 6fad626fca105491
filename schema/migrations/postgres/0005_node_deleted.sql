-- 0005 (PostgreSQL twin): a node the operator deleted, marked with when.
ALTER TABLE nodes ADD COLUMN deleted_at BIGINT;
