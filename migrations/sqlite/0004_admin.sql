-- Administration: when each user last completed a sign-in (password and a
-- second factor), shown to administrators beside the user.
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER;
