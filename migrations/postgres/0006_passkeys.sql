-- Passkeys: a device may be of kind 'passkey' (a discoverable WebAuthn
-- credential that verifies its user), and a passwordless sign-in begins a
-- ceremony before anyone is known, so a ceremony's user may be absent.
ALTER TABLE devices DROP CONSTRAINT devices_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_kind_check
    CHECK (kind IN ('totp', 'security_key', 'passkey'));
ALTER TABLE webauthn_ceremonies ALTER COLUMN user_id DROP NOT NULL;
