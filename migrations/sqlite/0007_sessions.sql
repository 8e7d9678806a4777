-- Sessions people see and end: an opaque handle per session (never the token
-- or its hash), where it was opened from and the second factor that opened
-- it. Sessions opened before this migration get a random handle.
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT '';
UPDATE sessions SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX sessions_by_id ON sessions(id);

-- Browsers that may skip the second factor for a while (opt-in by the
-- operator and by the person): the token is kept only as its SHA-256, and the
-- remembered factor's method and time travel to each session it opens.
CREATE TABLE remembered_browsers (
    id               TEXT    PRIMARY KEY,
    token_hash       BLOB    NOT NULL UNIQUE,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    method           TEXT    NOT NULL,
    second_factor_at INTEGER NOT NULL,
    ip               TEXT,
    user_agent       TEXT
);
CREATE INDEX remembered_browsers_by_user ON remembered_browsers(user_id);
