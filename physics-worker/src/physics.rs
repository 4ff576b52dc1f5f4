//! A deterministic, fixed-step gravity well.
//!
//! Products are bodies orbiting a central well in the x/y plane, with a little depth (z) that
//! the UI turns into scale. Each body is pulled toward a ring whose radius shrinks as its communal
//! mass grows (popular products sink toward the centre), driven along its orbit at a speed set by
//! its local gravity, damped, and softly pushed apart from its neighbours.
//!
//! Only `+ - * /` and `sqrt` are used on `f32`, all of which IEEE 754 defines exactly, and every sum
//! runs in a fixed order; so a wasm32 build computes bit-identical states to a native one.

use serde::{Deserialize, Serialize};

/// A vector in well units (the outer orbit has radius about 1).
pub type Vec3 = [f32; 3];

/// One product's physical state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Position.
    pub p: Vec3,
    /// Velocity, in well units per second.
    pub v: Vec3,
    /// Communal mass: grows with every interaction, relaxes toward `base_mass`.
    pub m: f32,
    /// The mass the product has when nobody is interested in it.
    pub base_mass: f32,
}

/// Tunable constants of the well. [`WellParams::default`] is what the product uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WellParams {
    /// The fixed step, in seconds.
    pub dt: f32,
    /// Ring radius of the heaviest products.
    pub r_min: f32,
    /// Ring radius of the lightest products.
    pub r_max: f32,
    /// Local gravity of the lightest and the heaviest products.
    pub g_min: f32,
    /// See `g_min`.
    pub g_max: f32,
    /// The mass at which a body is half-way between the light and the heavy extremes.
    pub mass_half: f32,
    /// Radial spring toward the body's ring, per unit of gravity.
    pub spring: f32,
    /// How strongly the orbital speed is driven toward its target.
    pub drive: f32,
    /// Linear damping of radial and depth motion.
    pub damping: f32,
    /// Spring pulling depth back to the plane.
    pub z_spring: f32,
    /// Fraction of the excess mass shed per second.
    pub mass_relax: f32,
    /// Mass added by one interaction (flick, beam).
    pub mass_per_interaction: f32,
    /// Upper bound of communal mass.
    pub max_mass: f32,
    /// Upper bound of speed; keeps the energy bounded whatever the impulses.
    pub max_speed: f32,
    /// Upper bound of one impulse's magnitude.
    pub max_impulse: f32,
    /// Distance under which two bodies push each other apart.
    pub separation_radius: f32,
    /// Acceleration of that push at zero distance.
    pub separation_strength: f32,
}

impl Default for WellParams {
    fn default() -> Self {
        Self {
            dt: crate::shared::DEFAULT_TICK_MS as f32 / 1_000.0,
            r_min: 0.25,
            r_max: 1.0,
            g_min: 0.02,
            g_max: 0.08,
            mass_half: 8.0,
            spring: 40.0,
            drive: 0.8,
            damping: 0.9,
            z_spring: 2.0,
            mass_relax: 0.02,
            mass_per_interaction: 0.5,
            max_mass: 100.0,
            max_speed: 2.0,
            max_impulse: crate::shared::MAX_IMPULSE,
            separation_radius: 0.08,
            separation_strength: 0.6,
        }
    }
}

/// Why an impulse was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImpulseError {
    /// A component was NaN or infinite.
    NotFinite,
}

impl WellParams {
    /// The product's constants for a well ticking every `tick_ms`: one tick steps exactly its own
    /// length of physics time, so the engine, its delta predictor and every client's manifold stay
    /// in step whatever tick the operator chose.
    pub fn for_tick_ms(tick_ms: u32) -> Self {
        Self { dt: tick_ms as f32 / 1_000.0, ..Self::default() }
    }

    /// [`WellParams::for_tick_ms`] for a tick given as a duration (whole milliseconds).
    pub fn for_tick(tick: std::time::Duration) -> Self {
        Self::for_tick_ms(u32::try_from(tick.as_millis()).unwrap_or(u32::MAX))
    }

    /// The tick length these constants step, in whole milliseconds.
    pub fn tick_ms(&self) -> u32 {
        (self.dt * 1_000.0).round() as u32
    }

    /// How far along the light-to-heavy scale a mass is, in [0, 1).
    fn heaviness(&self, mass: f32) -> f32 {
        let m = mass.max(0.0);
        m / (m + self.mass_half)
    }

    /// Local gravity `g` of a body of this mass: heavier bodies feel a stronger well.
    pub fn gravity(&self, mass: f32) -> f32 {
        self.g_min + (self.g_max - self.g_min) * self.heaviness(mass)
    }

    /// The radius of the ring a body of this mass settles on: heavier bodies sink inward.
    pub fn ring_radius(&self, mass: f32) -> f32 {
        self.r_max - (self.r_max - self.r_min) * self.heaviness(mass)
    }

    /// The orbital speed a body of this mass is driven toward.
    pub fn orbital_speed(&self, mass: f32) -> f32 {
        (self.gravity(mass) * self.ring_radius(mass)).sqrt() * 2.0
    }
}

/// Where product `index` of `count` starts: spread over rings by golden-angle spacing, moving
/// along its orbit, at rest in depth. Deterministic, so every node computes the same layout.
pub fn initial_body(index: usize, count: usize, base_mass: f32, params: &WellParams) -> Body {
    let count = count.max(1) as f32;
    let i = index as f32;
    // Golden angle in turns is irrational: successive products never line up.
    let turn = (i * 0.381_966_f32).fract();
    let (sin, cos) = unit_circle(turn);
    let ring = params.ring_radius(base_mass);
    // Spread radii a little around the ring so a dense catalog fills an annulus, not a line.
    let spread = 0.85 + 0.3 * ((i + 0.5) / count);
    let r = ring * spread;
    let speed = params.orbital_speed(base_mass);
    Body { p: [r * cos, r * sin, 0.0], v: [-sin * speed, cos * speed, 0.0], m: base_mass, base_mass }
}

/// A point on the unit circle for a fraction of a turn, from a rational approximation so the
/// result does not depend on the platform's `sin`/`cos`.
fn unit_circle(turn: f32) -> (f32, f32) {
    // Rational parametrisation of the circle: t = tan(θ/2) maps to ((1-t²)/(1+t²), 2t/(1+t²)).
    // Using t over (-1, 1] for half a turn each way keeps it well-conditioned.
    let theta_frac = turn * 2.0 - 1.0; // -1..1, i.e. -π..π
    let t = tan_half(theta_frac);
    let d = 1.0 + t * t;
    ((2.0 * t) / d, (1.0 - t * t) / d)
}

/// tan(θ/2) for θ = frac·π, approximated so the resulting angle is monotone in `frac`.
fn tan_half(frac: f32) -> f32 {
    // Map (-1, 1) onto (-∞, ∞) monotonically; the exact shape does not matter for a layout.
    let x = frac.clamp(-0.999, 0.999);
    x / (1.0 - x * x).sqrt()
}

/// Adds a flick impulse to a body and makes it heavier (communal interest).
///
/// The impulse is clamped to `max_impulse`; a non-finite one changes nothing.
pub fn apply_impulse(body: &mut Body, impulse: Vec3, params: &WellParams) -> Result<(), ImpulseError> {
    if impulse.iter().any(|c| !c.is_finite()) {
        return Err(ImpulseError::NotFinite);
    }
    let clamped = clamp_length(impulse, params.max_impulse);
    // Heavier products are harder to push around.
    let inertia = 1.0 + body.m / params.mass_half;
    for (v, j) in body.v.iter_mut().zip(clamped) {
        *v += j / inertia;
    }
    body.v = clamp_length(body.v, params.max_speed);
    add_interest(body, params);
    Ok(())
}

/// Records one interaction (beam, flick) in the communal mass.
pub fn add_interest(body: &mut Body, params: &WellParams) {
    body.m = (body.m + params.mass_per_interaction).min(params.max_mass);
}

impl Body {
    /// Whether this body holds exactly these bits of position, velocity and mass: what a client
    /// predicting the engine's step must match (the server's delta encoder and a forecast's
    /// confirmation compare this way).
    pub fn has_bits_of(&self, p: Vec3, v: Vec3, m: f32) -> bool {
        let bits = |v: Vec3| v.map(f32::to_bits);
        bits(self.p) == bits(p) && bits(self.v) == bits(v) && self.m.to_bits() == m.to_bits()
    }
}

/// What one accepted gesture does to its product's body before the tick's step: a flick's
/// impulse (`Some`), or a beam's communal mass (`None`). The engine applies gestures with this, and
/// a client applies another shopper's forecast with it, so both land on the same bits.
pub fn apply_gesture(body: &mut Body, impulse: Option<Vec3>, params: &WellParams) -> Result<(), ImpulseError> {
    match impulse {
        Some(v) => apply_impulse(body, v, params),
        None => {
            add_interest(body, params);
            Ok(())
        }
    }
}

fn clamp_length(v: Vec3, max: f32) -> Vec3 {
    let len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if len2 <= max * max {
        return v;
    }
    let k = max / len2.sqrt();
    [v[0] * k, v[1] * k, v[2] * k]
}

/// Reusable buffers for [`step`], so a tick allocates nothing once warmed up.
#[derive(Debug, Default)]
pub struct StepScratch {
    cell_of: Vec<u32>,
    cell_start: Vec<u32>,
    cell_items: Vec<u32>,
    cell_fill: Vec<u32>,
    push: Vec<[f32; 2]>,
}

/// Half-width of the square that the separation grid covers; bodies beyond it share edge cells.
const GRID_HALF_WIDTH: f32 = 1.5;

/// A crowded well cannot keep every pair `separation_radius` apart: the radius shrinks to about
/// this many well units divided by √n, which keeps the work per body constant (a dozen
/// neighbours) whatever the catalog size. Catalogs up to ~220 products use the full radius.
const SEPARATION_DENSITY: f32 = 1.2;

/// The separation radius actually used for `n` bodies.
pub fn effective_separation_radius(params: &WellParams, n: usize) -> f32 {
    params.separation_radius.min(SEPARATION_DENSITY / (n.max(1) as f32).sqrt())
}

/// Advances every body by one fixed step `params.dt` (semi-implicit Euler).
pub fn step(bodies: &mut [Body], params: &WellParams, scratch: &mut StepScratch) {
    separation(bodies, params, scratch);
    let dt = params.dt;
    let relax = (params.mass_relax * dt).min(1.0);
    for (body, push) in bodies.iter_mut().zip(&scratch.push) {
        let [x, y, z] = body.p;
        let r = (x * x + y * y).sqrt().max(1e-4);
        let (ux, uy) = (x / r, y / r);
        let (tx, ty) = (-uy, ux);
        let v_radial = body.v[0] * ux + body.v[1] * uy;
        let v_tangent = body.v[0] * tx + body.v[1] * ty;

        let g = params.gravity(body.m);
        let a_radial = -params.spring * g * (r - params.ring_radius(body.m)) - params.damping * v_radial;
        let a_tangent = params.drive * (params.orbital_speed(body.m) - v_tangent);
        let a_depth = -params.z_spring * z - params.damping * body.v[2];

        body.v[0] += (ux * a_radial + tx * a_tangent + push[0]) * dt;
        body.v[1] += (uy * a_radial + ty * a_tangent + push[1]) * dt;
        body.v[2] += a_depth * dt;
        body.v = clamp_length(body.v, params.max_speed);
        for axis in 0..3 {
            body.p[axis] += body.v[axis] * dt;
        }
        body.m += (body.base_mass - body.m) * relax;
    }
}

/// Fills `scratch.push` with each body's separation acceleration, using a uniform grid so the
/// cost is linear in the number of bodies. Neighbours are visited in a fixed order.
fn separation(bodies: &[Body], params: &WellParams, scratch: &mut StepScratch) {
    let n = bodies.len();
    let radius = effective_separation_radius(params, n);
    let cells_per_axis = ((2.0 * GRID_HALF_WIDTH / radius) as usize).max(1);
    let cell_count = cells_per_axis * cells_per_axis;
    let cell_coord = |c: f32| -> usize {
        let k = ((c + GRID_HALF_WIDTH) / radius) as isize;
        k.clamp(0, cells_per_axis as isize - 1) as usize
    };

    // Counting sort of bodies into cells.
    scratch.cell_of.clear();
    scratch.cell_start.clear();
    scratch.cell_start.resize(cell_count + 1, 0);
    for b in bodies {
        let cell = cell_coord(b.p[1]) * cells_per_axis + cell_coord(b.p[0]);
        scratch.cell_of.push(cell as u32);
        scratch.cell_start[cell + 1] += 1;
    }
    for c in 0..cell_count {
        scratch.cell_start[c + 1] += scratch.cell_start[c];
    }
    scratch.cell_items.clear();
    scratch.cell_items.resize(n, 0);
    scratch.cell_fill.clear();
    scratch.cell_fill.extend_from_slice(&scratch.cell_start);
    for (i, &cell) in scratch.cell_of.iter().enumerate() {
        let slot = &mut scratch.cell_fill[cell as usize];
        scratch.cell_items[*slot as usize] = i as u32;
        *slot += 1;
    }

    scratch.push.clear();
    scratch.push.resize(n, [0.0, 0.0]);
    let r2 = radius * radius;
    for i in 0..n {
        let cell = scratch.cell_of[i] as usize;
        let (cx, cy) = (cell % cells_per_axis, cell / cells_per_axis);
        let mut acc = [0.0f32, 0.0f32];
        for ny in cy.saturating_sub(1)..=(cy + 1).min(cells_per_axis - 1) {
            for nx in cx.saturating_sub(1)..=(cx + 1).min(cells_per_axis - 1) {
                let c = ny * cells_per_axis + nx;
                let range = scratch.cell_start[c] as usize..scratch.cell_start[c + 1] as usize;
                for &j in &scratch.cell_items[range] {
                    let j = j as usize;
                    if j == i {
                        continue;
                    }
                    let dx = bodies[i].p[0] - bodies[j].p[0];
                    let dy = bodies[i].p[1] - bodies[j].p[1];
                    let d2 = dx * dx + dy * dy;
                    if d2 >= r2 {
                        continue;
                    }
                    if d2 == 0.0 {
                        // Exactly on top of each other: split them along x by index order.
                        acc[0] += if i < j { -1.0 } else { 1.0 } * params.separation_strength;
                        continue;
                    }
                    let d = d2.sqrt();
                    let k = params.separation_strength * (1.0 - d / radius) / d;
                    acc[0] += dx * k;
                    acc[1] += dy * k;
                }
            }
        }
        scratch.push[i] = acc;
    }
}

/// Total kinetic energy per unit mass; a bounded quantity the tests watch.
pub fn kinetic_energy(bodies: &[Body]) -> f32 {
    bodies.iter().map(|b| 0.5 * (b.v[0] * b.v[0] + b.v[1] * b.v[1] + b.v[2] * b.v[2])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(count: usize) -> Vec<Body> {
        let params = WellParams::default();
        (0..count).map(|i| initial_body(i, count, 1.0 + (i % 7) as f32, &params)).collect()
    }

    #[test]
    fn heavier_bodies_feel_more_gravity_and_orbit_closer_in() {
        let p = WellParams::default();
        assert!(p.gravity(20.0) > p.gravity(1.0));
        assert!(p.ring_radius(20.0) < p.ring_radius(1.0));
        assert!(p.ring_radius(p.max_mass) >= p.r_min);
    }

    #[test]
    fn initial_layout_is_finite_inside_the_well_and_distinct() {
        let bodies = catalog(200);
        for b in &bodies {
            let r = (b.p[0] * b.p[0] + b.p[1] * b.p[1]).sqrt();
            assert!(r.is_finite() && r > 0.1 && r < 1.3, "radius {r}");
        }
        for (i, a) in bodies.iter().enumerate() {
            for b in &bodies[i + 1..] {
                assert_ne!(a.p, b.p);
            }
        }
    }

    #[test]
    fn bodies_stay_in_the_well_over_a_long_run() {
        let params = WellParams::default();
        let mut bodies = catalog(300);
        let mut scratch = StepScratch::default();
        for _ in 0..5_000 {
            step(&mut bodies, &params, &mut scratch);
        }
        for b in &bodies {
            let r = (b.p[0] * b.p[0] + b.p[1] * b.p[1]).sqrt();
            assert!(r < 1.6, "escaped to {r}");
            assert!(b.p[2].abs() < 0.5);
        }
    }

    #[test]
    fn a_flick_changes_velocity_and_adds_mass_but_a_nan_one_changes_nothing() {
        let params = WellParams::default();
        let mut body = initial_body(0, 1, 1.0, &params);
        let before = body;
        assert_eq!(apply_impulse(&mut body, [f32::NAN, 0.0, 0.0], &params), Err(ImpulseError::NotFinite));
        assert_eq!(body, before);
        apply_impulse(&mut body, [0.3, 0.0, 0.0], &params).unwrap();
        assert!(body.v[0] > before.v[0]);
        assert_eq!(body.m, before.m + params.mass_per_interaction);
    }

    #[test]
    fn mass_relaxes_back_toward_base_mass() {
        let params = WellParams::default();
        let mut bodies = vec![initial_body(0, 1, 2.0, &params)];
        bodies[0].m = 30.0;
        let mut scratch = StepScratch::default();
        for _ in 0..20_000 {
            step(&mut bodies, &params, &mut scratch);
        }
        assert!((bodies[0].m - 2.0).abs() < 0.1, "mass {}", bodies[0].m);
    }

    #[test]
    fn overlapping_bodies_are_pushed_apart() {
        let params = WellParams::default();
        let mut bodies = vec![initial_body(0, 1, 1.0, &params); 2];
        bodies[1].p[0] += 0.01;
        let gap = |b: &[Body]| (b[0].p[0] - b[1].p[0]).abs() + (b[0].p[1] - b[1].p[1]).abs();
        let before = gap(&bodies);
        let mut scratch = StepScratch::default();
        for _ in 0..20 {
            step(&mut bodies, &params, &mut scratch);
        }
        assert!(gap(&bodies) > before * 2.0);
    }
}
