-- 0002: nodes, tokens, rollouts and their per-node steps.
CREATE TABLE nodes (
  name             TEXT    PRIMARY KEY,
  labels           TEXT    NOT NULL DEFAULT '{}',  -- JSON object
  version          TEXT,
  config_revision  INTEGER REFERENCES config_revisions (id),
  generation       INTEGER,
  health           TEXT    NOT NULL DEFAULT '{}',  -- JSON: the gate's figures
  last_heartbeat   INTEGER,
  enrolled_at      INTEGER NOT NULL
);

-- Bearer tokens, only ever stored hashed (SHA-256 of the secret).
CREATE TABLE tokens (
  id          INTEGER PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('admin', 'enrollment', 'node')),
  hash        TEXT    NOT NULL UNIQUE,
  node        TEXT    REFERENCES nodes (name),
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);

CREATE TABLE rollouts (
  id            INTEGER PRIMARY KEY,
  state         TEXT    NOT NULL,
  from_version  TEXT,
  to_version    TEXT,
  from_config   INTEGER REFERENCES config_revisions (id),
  to_config     INTEGER REFERENCES config_revisions (id),
  strategy      TEXT    NOT NULL,  -- JSON: batches, canary, gate
  forced        INTEGER NOT NULL CHECK (forced IN (0, 1)),
  reason        TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

CREATE TABLE rollout_steps (
  rollout_id  INTEGER NOT NULL REFERENCES rollouts (id),
  node        TEXT    NOT NULL REFERENCES nodes (name),
  batch       INTEGER NOT NULL,
  state       TEXT    NOT NULL,
  report      TEXT,  -- JSON: the node's handover report
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, node)
);
