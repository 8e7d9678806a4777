-- Passkeys: a device may be of kind 'passkey' (a discoverable WebAuthn
-- credential that verifies its user), and a passwordless sign-in begins a
-- ceremony before anyone is known, so a ceremony's user may be absent.

-- SQLite cannot change a CHECK constraint: the table is rebuilt with the
-- same columns (nothing references devices, so nothing else moves).
CREATE TABLE devices_new (
    id                TEXT    PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('totp', 'security_key', 'passkey')),
    name              TEXT    NOT NULL,
    confirmed         INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER,
    totp_secret       BLOB,
    totp_last_step    INTEGER,
    totp_offset_steps INTEGER NOT NULL DEFAULT 0,
    hardware          INTEGER NOT NULL DEFAULT 0,
    credential        TEXT,
    credential_id     BLOB,
    sign_count        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO devices_new
    (id, user_id, kind, name, confirmed, created_at, last_used_at, totp_secret,
     totp_last_step, totp_offset_steps, hardware, credential, credential_id, sign_count)
SELECT id, user_id, kind, name, confirmed, created_at, last_used_at, totp_secret,
       totp_last_step, totp_offset_steps, hardware, credential, credential_id, sign_count
  FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;
CREATE INDEX devices_by_user ON devices(user_id);
CREATE UNIQUE INDEX devices_by_credential_id ON devices(credential_id)
    WHERE credential_id IS NOT NULL;

-- Ceremonies live five minutes at most: the ones in flight are dropped.
DROP TABLE webauthn_ceremonies;
CREATE TABLE webauthn_ceremonies (
    owner_hash  BLOB    NOT NULL,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('registration', 'authentication')),
    -- Absent for a passwordless sign-in: the credential names the user.
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    device_name TEXT,
    state       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (owner_hash, purpose)
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies(expires_at);
