-- Office accounts' TOTP secrets sealed at rest (AES-256-GCM), no longer in clear.
--
-- The key is not in the database: it is derived from the deployment's link secret
-- (PACTE_LINK_SECRET, or `link_secret` in the secrets file, or the embedded stack's state
-- file), derived_key(secret, "office-totp"), the way the desk already derives its CSRF and
-- link keys. SQL cannot encrypt without it, so this migration does not convert: it marks.
-- A secret written before it moves to `totp_secret_legacy` (clear, as it was); the sealed
-- form goes in `totp_sealed` (12-byte nonce || ciphertext, the account's e-mail as
-- associated data: a sealed secret copied to another account does not open).
--
-- Converting: `portal.py` seals every legacy secret when it starts (after the migrations,
-- before it serves), and the desk seals a legacy secret the first time it reads one (a
-- replica that started first), clearing `totp_secret_legacy` in the same statement. After
-- the first start of a portal at this version, no row holds a clear secret.
ALTER TABLE office_users RENAME COLUMN totp_secret TO totp_secret_legacy;
ALTER TABLE office_users ADD COLUMN totp_sealed bytea;
