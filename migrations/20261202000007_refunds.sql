-- Refunds: what went back of a paid order, made by an admin through SwiftCart or elsewhere (in
-- Stripe's dashboard, found by the webhook or the sweeper). orders.refunded_cents is the sum.
ALTER TABLE orders ADD COLUMN refunded_cents BIGINT NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0);
-- When the bank asked for authentication (the orders desk's timeline).
ALTER TABLE orders ADD COLUMN authentication_requested_at TIMESTAMPTZ;
-- When the sweeper last asked Stripe about this order's refunds.
ALTER TABLE orders ADD COLUMN refunds_checked_at TIMESTAMPTZ;
CREATE INDEX orders_refund_checks ON orders (refunds_checked_at NULLS FIRST)
    WHERE status IN ('paid', 'partially_refunded');
CREATE INDEX orders_newest ON orders (created_at DESC);

CREATE TABLE refunds (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id         UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- 'admin': through POST /api/admin/orders/{id}/refunds; 'stripe': found at Stripe.
    source           TEXT NOT NULL CHECK (source IN ('admin', 'stripe')),
    -- The admin's Idempotency-Key and the request's fingerprint (admin refunds only).
    idempotency_key  TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     BYTEA,
    stripe_refund_id TEXT UNIQUE,
    amount_cents     BIGINT NOT NULL CHECK (amount_cents > 0),
    restocked        BOOLEAN NOT NULL DEFAULT false,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (order_id, idempotency_key)
);

-- The units a refund was for, when it named lines.
CREATE TABLE refund_lines (
    refund_id  UUID NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (refund_id, product_id)
);
