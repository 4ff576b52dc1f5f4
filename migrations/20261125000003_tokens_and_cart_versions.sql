-- Refresh tokens (only their SHA-256 is stored) and the write-through version of cart orbits.

-- A refresh token is used once: using it rotates it to a new one of the same family. Presenting a
-- used or revoked token again means it leaked, so the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    family_id   UUID NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Redis counts every change to a cart orbit; the writer keeps only newer versions, so writes
-- arriving out of order from several nodes never bring an old cart back.
ALTER TABLE carts ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
