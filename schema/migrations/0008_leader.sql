-- 0008: who leads the controllers that share this database. One row: the
-- holder's name, its term, and when its lease ends (Unix ms). A controller
-- leads while its lease runs and renews it well before it ends; another
-- takes the next term only once it has ended. Every write a leader makes
-- first checks, in its own transaction, that its term is still this row's
-- (fencing): a leader stopped past its lease writes nothing when it wakes.
CREATE TABLE leader (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  holder      TEXT    NOT NULL,
  term        INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
INSERT INTO leader (id, holder, term, expires_at) VALUES (1, '', 0, 0);
