-- Sessions people see and end: an opaque handle per session (never the token
-- or its hash), where it was opened from and the second factor that opened
-- it. Sessions opened before this migration get a random handle. `seq`
-- orders sessions opened in the same second (the per-user cap ends the oldest).
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN seq BIGSERIAL;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT '';
UPDATE sessions SET id = md5(random()::text || clock_timestamp()::text || seq::text) WHERE id IS NULL;
ALTER TABLE sessions ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX sessions_by_id ON sessions(id);

-- Browsers that may skip the second factor for a while (opt-in by the
-- operator and by the person): the token is kept only as its SHA-256, and the
-- remembered factor's method and time travel to each session it opens.
CREATE TABLE remembered_browsers (
    id               TEXT   PRIMARY KEY,
    seq              BIGSERIAL,
    token_hash       BYTEA  NOT NULL UNIQUE,
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    last_used_at     BIGINT,
    method           TEXT   NOT NULL,
    second_factor_at BIGINT NOT NULL,
    ip               TEXT,
    user_agent       TEXT
);
CREATE INDEX remembered_browsers_by_user ON remembered_browsers(user_id);
