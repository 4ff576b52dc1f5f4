-- Shoppers, their cart orbits, and what they bought.

CREATE TABLE users (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-cased; uniqueness is on the normalised address.
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND position('@' IN email) > 1),
    -- argon2id PHC string; never a plain password.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A cart orbit belongs to a token subject: a guest id or a user id (as text), so a guest's cart
-- can be handed over when they sign in. Written through from Redis so it survives a Redis loss.
CREATE TABLE carts (
    owner_sub  TEXT PRIMARY KEY,
    user_id    UUID REFERENCES users (id) ON DELETE CASCADE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE cart_items (
    owner_sub  TEXT NOT NULL REFERENCES carts (owner_sub) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    PRIMARY KEY (owner_sub, product_id)
);

CREATE TABLE orders (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                  UUID NOT NULL REFERENCES users (id),
    status                   TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'refunded')),
    total_cents              BIGINT NOT NULL CHECK (total_cents >= 0),
    -- Only Stripe ids are kept; never card data.
    stripe_payment_intent_id TEXT UNIQUE,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    paid_at                  TIMESTAMPTZ
);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);

CREATE TABLE order_items (
    order_id         UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       UUID NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    -- The price frozen at checkout, whatever the live price did afterwards.
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
