-- 0008 (PostgreSQL twin of ../0008_leader.sql): the leadership lease and
-- its term, which every leader write checks (fencing).
CREATE TABLE leader (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  holder      TEXT    NOT NULL,
  term        BIGINT  NOT NULL,
  expires_at  BIGINT  NOT NULL
);
INSERT INTO leader (id, holder, term, expires_at) VALUES (1, '', 0, 0);

-- Fencing, in the database: a session that set logctl.fence_term (a leader,
-- SET by the store) may write the fleet's tables only while that is still
-- the lease's term. FOR SHARE orders the check against a successor taking
-- the lease: a write commits under its own term or not at all.
CREATE FUNCTION logctl_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  mine TEXT := current_setting('logctl.fence_term', true);
  now_term BIGINT;
BEGIN
  IF mine IS NULL OR mine = '' OR mine = '0' THEN
    RETURN NULL;
  END IF;
  SELECT term INTO now_term FROM leader WHERE id = 1 FOR SHARE;
  IF now_term <> mine::BIGINT THEN
    RAISE EXCEPTION 'fenced: term % was superseded by term %', mine, now_term
      USING ERRCODE = 'LF001';
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER fence_cluster BEFORE INSERT OR UPDATE OR DELETE ON cluster
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_releases BEFORE INSERT OR UPDATE OR DELETE ON releases
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_config_revisions BEFORE INSERT OR UPDATE OR DELETE ON config_revisions
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_history BEFORE INSERT OR UPDATE OR DELETE ON history
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_nodes BEFORE INSERT OR UPDATE OR DELETE ON nodes
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_tokens BEFORE INSERT OR UPDATE OR DELETE ON tokens
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_rollouts BEFORE INSERT OR UPDATE OR DELETE ON rollouts
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
CREATE TRIGGER fence_rollout_steps BEFORE INSERT OR UPDATE OR DELETE ON rollout_steps
  FOR EACH STATEMENT EXECUTE FUNCTION logctl_fence();
