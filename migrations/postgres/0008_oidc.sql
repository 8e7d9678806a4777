-- OpenID Connect provider: signing keys (sealed), each user's stable
-- subject, consents, authorization codes and token families. Codes and
-- tokens are kept as SHA-256 hashes only.
CREATE TABLE oidc_signing_keys (
    kid        TEXT    PRIMARY KEY,
    alg        TEXT    NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    sealed     BYTEA    NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
-- One current key per algorithm: instances starting together agree on it.
CREATE UNIQUE INDEX oidc_signing_keys_current ON oidc_signing_keys(alg)
    WHERE retired_at IS NULL;

CREATE TABLE oidc_subjects (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    subject TEXT    NOT NULL UNIQUE
);

CREATE TABLE oidc_consents (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE oidc_codes (
    code_hash      BYTEA    PRIMARY KEY,
    family         TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    user_id        BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      BIGINT NOT NULL,
    method         TEXT    NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    -- Orders a user's codes made in the same second (the oldest go first).
    seq            BIGSERIAL
);
CREATE INDEX oidc_codes_by_user ON oidc_codes(user_id, created_at);
CREATE INDEX oidc_codes_by_expiry ON oidc_codes(expires_at);

CREATE TABLE oidc_tokens (
    token_hash BYTEA    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    family     TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    auth_time  BIGINT NOT NULL,
    method     TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oidc_tokens_by_family ON oidc_tokens(family);
CREATE INDEX oidc_tokens_by_expiry ON oidc_tokens(expires_at);
CREATE INDEX oidc_tokens_by_user ON oidc_tokens(user_id, client_id);
