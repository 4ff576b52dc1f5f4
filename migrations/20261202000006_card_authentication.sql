-- 3-D Secure: an order may wait for the shopper's bank, and (later) be refunded in part.
--   requires_action     the intent asked for authentication; the page runs it until
--                       authenticate_by, then the sweeper settles the order from Stripe
--   partially_refunded  some of a paid order's money went back
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (
    status IN ('pending', 'requires_action', 'paid', 'failed', 'partially_refunded', 'refunded'));
ALTER TABLE orders ADD COLUMN authenticate_by TIMESTAMPTZ;
CREATE INDEX orders_awaiting_authentication ON orders (authenticate_by) WHERE status = 'requires_action';
