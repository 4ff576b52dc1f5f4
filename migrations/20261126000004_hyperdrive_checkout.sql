-- Hyperdrive checkout: quotes (frozen prices + reserved stock), idempotent checkout requests,
-- and the Stripe events already handled.

-- A quote freezes each item's live price and holds its units in inventory.reserved_count.
--   open      reserved, waiting for payment until expires_at (the sweeper releases it after)
--   charging  an order is paying for it; only that order's outcome moves it on
--   consumed  paid: its units left stock
--   released  its units went back (expired, payment failed, or replaced by a newer quote)
CREATE TABLE quotes (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'charging', 'consumed', 'released')),
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX quotes_open_by_expiry ON quotes (expires_at) WHERE status = 'open';
CREATE INDEX quotes_by_user ON quotes (user_id) WHERE status = 'open';

CREATE TABLE quote_items (
    quote_id         UUID NOT NULL REFERENCES quotes (id) ON DELETE CASCADE,
    product_id       UUID NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (quote_id, product_id)
);

-- An order pays for exactly one quote; 'pending' while its payment is in flight.
ALTER TABLE orders ADD COLUMN quote_id UUID UNIQUE REFERENCES quotes (id);
ALTER TABLE orders ADD COLUMN failure_reason TEXT;
ALTER TABLE orders ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';

-- One row per (shopper, Idempotency-Key): the request's fingerprint and, once known, its answer.
CREATE TABLE checkout_requests (
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash    BYTEA NOT NULL,
    order_id        UUID REFERENCES orders (id),
    response_status SMALLINT,
    response_body   JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);

-- Stripe event ids already handled: a redelivered event changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
