-- 0001: the cluster's lifecycle, releases, config revisions and the history.
-- Never edit a migration that has landed: add the next one.
CREATE TABLE config_revisions (
  id          INTEGER PRIMARY KEY,
  text        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  author      TEXT    NOT NULL,
  created_at  INTEGER NOT NULL  -- Unix ms
);

CREATE TABLE releases (
  version     TEXT    PRIMARY KEY,  -- SemVer
  sha256      TEXT    NOT NULL,     -- of the artifact, lowercase hex
  size        INTEGER NOT NULL,
  manifest    TEXT    NOT NULL,     -- JSON, docs/release-manifest.md
  created_at  INTEGER NOT NULL
);

-- One row: the cluster. revision grows with every change (plan tokens).
CREATE TABLE cluster (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  state             TEXT    NOT NULL,
  current_version   TEXT,
  target_version    TEXT,
  previous_version  TEXT,
  current_config    INTEGER REFERENCES config_revisions (id),
  target_config     INTEGER REFERENCES config_revisions (id),
  previous_config   INTEGER REFERENCES config_revisions (id),
  revision          INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
INSERT INTO cluster (id, state, revision, updated_at) VALUES (1, 'stopped', 1, 0);

-- Append-only: who did what, when, forced or not, and how it ended.
CREATE TABLE history (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  actor    TEXT    NOT NULL,
  action   TEXT    NOT NULL,
  detail   TEXT    NOT NULL,  -- JSON
  forced   INTEGER NOT NULL CHECK (forced IN (0, 1)),
  outcome  TEXT    NOT NULL
);
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
