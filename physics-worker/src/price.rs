//! The live price.
//!
//! A product's price lives in the band `[floor, msrp]` and is set by a *level* in `[0, 1]`:
//!
//! ```text
//! decay    = 1 / (1 + idle / half_life)                 1 just after interest, → 0 when ignored
//! interest = excess / (excess + interest_half)          excess = max(0, mass − base_mass)
//! scarcity = 1 / (1 + stock_left / scarcity_half)       1 when sold out, → 0 when plentiful
//! pull     = 1 − (1 − interest)·(1 − scarcity_weight·scarcity)
//! level    = 1 − (1 − decay)·(1 − pull)
//! price    = floor + ⌊(msrp − floor)·level⌋
//! ```
//!
//! So the price starts at msrp, decays toward `floor + (msrp − floor)·pull` while nobody is
//! interested, and is held up by communal mass and by scarcity. `level` falls with idle time and
//! rises with mass and with scarcity, and the result is always within `[floor, msrp]`, in cents.
//! Only `+ - * /` on `f64`, so native and wasm builds agree to the cent.

/// Tunable constants of the price function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceParams {
    /// Seconds without interest after which the decaying part has halved.
    pub half_life_secs: f64,
    /// Excess mass at which interest counts for half.
    pub interest_half: f64,
    /// Units left at which scarcity counts for half.
    pub scarcity_half: f64,
    /// How much of the band scarcity alone can hold up, in [0, 1].
    pub scarcity_weight: f64,
}

impl Default for PriceParams {
    fn default() -> Self {
        Self { half_life_secs: 600.0, interest_half: 10.0, scarcity_half: 5.0, scarcity_weight: 0.6 }
    }
}

/// What the price depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceInputs {
    /// The list price, in cents.
    pub msrp_cents: i64,
    /// The lowest price the product may reach, in cents.
    pub floor_cents: i64,
    /// Seconds since the last interaction with the product.
    pub idle_secs: f64,
    /// Current communal mass.
    pub mass: f64,
    /// Mass with no interest.
    pub base_mass: f64,
    /// Units available to buy.
    pub stock_left: i64,
}

/// The price level in [0, 1] (0 = floor, 1 = msrp). Bad inputs (NaN) fall back to msrp.
pub fn price_level(inputs: &PriceInputs, params: &PriceParams) -> f64 {
    let idle = if inputs.idle_secs.is_finite() { inputs.idle_secs.max(0.0) } else { 0.0 };
    let decay = 1.0 / (1.0 + idle / params.half_life_secs);
    let excess = inputs.mass - inputs.base_mass;
    let excess = if excess.is_finite() { excess.max(0.0) } else { 0.0 };
    let interest = excess / (excess + params.interest_half);
    let stock = inputs.stock_left.max(0) as f64;
    let scarcity = 1.0 / (1.0 + stock / params.scarcity_half);
    let pull = 1.0 - (1.0 - interest) * (1.0 - params.scarcity_weight * scarcity);
    (1.0 - (1.0 - decay) * (1.0 - pull)).clamp(0.0, 1.0)
}

/// The live price in cents, always within `[floor, msrp]` (a floor above msrp is treated as msrp).
pub fn price_cents(inputs: &PriceInputs, params: &PriceParams) -> i64 {
    let msrp = inputs.msrp_cents.max(0);
    let floor = inputs.floor_cents.clamp(0, msrp);
    let band = (msrp - floor) as f64;
    let above_floor = (band * price_level(inputs, params)).floor() as i64;
    (floor + above_floor).clamp(floor, msrp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> PriceInputs {
        PriceInputs {
            msrp_cents: 10_000,
            floor_cents: 6_000,
            idle_secs: 0.0,
            mass: 1.0,
            base_mass: 1.0,
            stock_left: 1_000,
        }
    }

    #[test]
    fn a_product_that_just_had_interest_costs_its_msrp() {
        assert_eq!(price_cents(&inputs(), &PriceParams::default()), 10_000);
    }

    #[test]
    fn an_ignored_plentiful_product_decays_toward_its_floor() {
        let p = PriceParams::default();
        let hour = price_cents(&PriceInputs { idle_secs: 3_600.0, ..inputs() }, &p);
        let week = price_cents(&PriceInputs { idle_secs: 604_800.0, ..inputs() }, &p);
        assert!(hour < 10_000 && week < hour && week >= 6_000, "{hour} {week}");
        assert!(week < 6_100);
    }

    #[test]
    fn mass_and_scarcity_hold_the_price_up() {
        let p = PriceParams::default();
        let idle = PriceInputs { idle_secs: 3_600.0, ..inputs() };
        let base = price_cents(&idle, &p);
        assert!(price_cents(&PriceInputs { mass: 20.0, ..idle }, &p) > base);
        assert!(price_cents(&PriceInputs { stock_left: 1, ..idle }, &p) > base);
    }

    #[test]
    fn nonsense_inputs_stay_in_the_band() {
        let p = PriceParams::default();
        let weird = PriceInputs { idle_secs: f64::NAN, mass: f64::INFINITY, stock_left: -5, ..inputs() };
        let c = price_cents(&weird, &p);
        assert!((6_000..=10_000).contains(&c));
        let inverted = PriceInputs { floor_cents: 20_000, ..inputs() };
        assert_eq!(price_cents(&inverted, &p), 10_000);
    }
}
