-- Guests renew too: a guest's refresh token keeps its subject (and so its cart orbit) across
-- access-token expiries. A refresh token belongs to exactly one owner: an account or a guest id.
ALTER TABLE refresh_tokens ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE refresh_tokens ADD COLUMN guest_sub TEXT;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_one_owner
    CHECK ((user_id IS NULL) <> (guest_sub IS NULL));
CREATE INDEX refresh_tokens_by_guest ON refresh_tokens (guest_sub) WHERE guest_sub IS NOT NULL;
