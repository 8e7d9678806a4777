-- OpenID Connect provider: signing keys (sealed), each user's stable
-- subject, consents, authorization codes and token families. Codes and
-- tokens are kept as SHA-256 hashes only.
CREATE TABLE oidc_signing_keys (
    kid        TEXT    PRIMARY KEY,
    alg        TEXT    NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
-- One current key per algorithm: instances starting together agree on it.
CREATE UNIQUE INDEX oidc_signing_keys_current ON oidc_signing_keys(alg)
    WHERE retired_at IS NULL;

CREATE TABLE oidc_subjects (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    subject TEXT    NOT NULL UNIQUE
);

CREATE TABLE oidc_consents (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE oidc_codes (
    code_hash      BLOB    PRIMARY KEY,
    family         TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    method         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);
CREATE INDEX oidc_codes_by_user ON oidc_codes(user_id, created_at);
CREATE INDEX oidc_codes_by_expiry ON oidc_codes(expires_at);

CREATE TABLE oidc_tokens (
    token_hash BLOB    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    family     TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    method     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX oidc_tokens_by_family ON oidc_tokens(family);
CREATE INDEX oidc_tokens_by_expiry ON oidc_tokens(expires_at);
CREATE INDEX oidc_tokens_by_user ON oidc_tokens(user_id, client_id);
