-- 0009: what several controllers on one database share beyond the fleet's
-- tables. `controllers`: every controller process that served, with the URL
-- nodes and operators reach it by (`logctl cluster status` lists them; a
-- follower names the leader's URL in its redirects). `artifact_chunks`: a
-- release's bytes, by SHA-256, in chunks, so that any controller can serve a
-- release another one received (the single-host controller keeps its files
-- in the data directory and leaves this table empty).
CREATE TABLE controllers (
  holder      TEXT    PRIMARY KEY,
  url         TEXT    NOT NULL,
  version     TEXT    NOT NULL,
  started_at  INTEGER NOT NULL,
  seen_at     INTEGER NOT NULL
);
CREATE TABLE artifact_chunks (
  sha256  TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  data    BLOB    NOT NULL,
  PRIMARY KEY (sha256, seq)
);
