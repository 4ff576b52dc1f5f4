-- The catalog: what can be bought, how much of it there is, and how its price moved.
-- Money is integer cents (BIGINT) everywhere; masses are the physics' base values.

CREATE TABLE products (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug              TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description       TEXT NOT NULL DEFAULT '',
    image_path        TEXT NOT NULL,
    msrp_cents        BIGINT NOT NULL CHECK (msrp_cents > 0),
    -- The live price never falls below this.
    price_floor_cents BIGINT NOT NULL CHECK (price_floor_cents >= 0),
    base_mass         REAL NOT NULL CHECK (base_mass > 0 AND base_mass <= 100),
    -- Stable catalog order; also the order of the physics layout at cold boot.
    sort_order        INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Retired products stay for order history but leave the Gravity Well.
    retired_at        TIMESTAMPTZ,
    CHECK (price_floor_cents <= msrp_cents)
);

CREATE INDEX products_live_order ON products (sort_order, slug) WHERE retired_at IS NULL;

-- Stock is the system of record; Redis only ever mirrors it.
CREATE TABLE inventory (
    product_id     UUID PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    stock_count    INTEGER NOT NULL CHECK (stock_count >= 0),
    -- Units held by open checkout quotes.
    reserved_count INTEGER NOT NULL DEFAULT 0 CHECK (reserved_count >= 0),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (reserved_count <= stock_count)
);

-- Appended in batches by the engine: a point when the price moves by 1% or every 10 s.
CREATE TABLE price_history (
    id          BIGSERIAL PRIMARY KEY,
    product_id  UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX price_history_by_product ON price_history (product_id, recorded_at DESC);
