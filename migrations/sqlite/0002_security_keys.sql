-- Security keys (WebAuthn): ceremonies in progress, one registration per key,
-- and each key's last signature counter. Times are Unix seconds (UTC).

-- A registration or sign-in ceremony started by `begin` and ended by `finish`:
-- the webauthn-rs state (challenge, allowed credentials) never leaves the
-- server. Keyed by the SHA-256 of the session or pending-login token that
-- began it; taken (deleted) by the first `finish`, so a challenge works once.
CREATE TABLE webauthn_ceremonies (
    owner_hash  BLOB    NOT NULL,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('registration', 'authentication')),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Registration: the name the user gave the key.
    device_name TEXT,
    state       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (owner_hash, purpose)
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies(expires_at);

-- A key's credential belongs to one account only.
CREATE UNIQUE INDEX devices_by_credential_id ON devices(credential_id)
    WHERE credential_id IS NOT NULL;

-- The highest signature counter accepted from a security key: a sign-in must
-- show a higher one (or 0 from a key without a counter), checked and written
-- in one statement.
ALTER TABLE devices ADD COLUMN sign_count INTEGER NOT NULL DEFAULT 0;
