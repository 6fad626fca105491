-- 0009 (PostgreSQL twin of ../0009_controllers_artifacts.sql): the
-- controllers sharing this database, and release artifacts by SHA-256 in
-- chunks (any controller serves a release another one received).
CREATE TABLE controllers (
  holder      TEXT    PRIMARY KEY,
  url         TEXT    NOT NULL,
  version     TEXT    NOT NULL,
  started_at  BIGINT  NOT NULL,
  seen_at     BIGINT  NOT NULL
);
CREATE TABLE artifact_chunks (
  sha256  TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  data    BYTEA   NOT NULL,
  PRIMARY KEY (sha256, seq)
);
-- A release's bytes are written by the leader with its release: fenced as
-- the releases are.
CREATE TRIGGER fence_artifact_chunks BEFORE INSERT OR UPDATE OR DELETE ON artifact_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
