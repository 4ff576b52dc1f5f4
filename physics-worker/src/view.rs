//! How the well looks, as pure functions: where a body appears on screen, which bodies are drawn
//! as full cards and which as planets, what is under a pointer, and a card's Redshift glitch.
//!
//! The worker's painter, the page's DOM fallback and the tests all use these, so the picture and
//! the hit tests always agree.

use crate::manifold::STRIDE;

/// A card's size in CSS pixels at scale 1 (wide screens).
pub const CARD_SIZE: (f32, f32) = (136.0, 176.0);
/// A card's size in CSS pixels at scale 1 on a phone (below [`PHONE_WIDTH`]).
pub const PHONE_CARD_SIZE: (f32, f32) = (104.0, 144.0);
/// Below this well width (CSS px) cards use [`PHONE_CARD_SIZE`].
pub const PHONE_WIDTH: f32 = 560.0;
/// A planet's diameter in CSS pixels at scale 1.
pub const PLANET_DIAMETER: f32 = 30.0;
/// How many bodies nearest the front are drawn as full cards; the rest are planets.
pub const FULL_CARDS: usize = 40;
/// Fewer than this many products: every one is a full card.
pub const ALL_CARDS_UNDER: usize = 48;
/// Floats per body in a [`Layout`]: x, y, width, height (CSS px from the well's top left) and
/// paint rank (higher is nearer the front; negative: not drawn).
pub const LAYOUT_STRIDE: usize = 5;
/// How far the well is tilted: the share of a unit of `y` that shows as vertical distance.
const TILT_Y: f32 = 0.62;
/// The share of a unit of depth `z` that shows as vertical distance.
const TILT_Z: f32 = 0.35;

/// At or below this many units a product is low on stock.
pub const LOW_STOCK: i64 = 5;
/// The instability from which a card shows the Redshift glitch.
pub const REDSHIFT_FROM: f32 = 0.5;

/// The well's size on screen and the pixels per well unit that follow from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewport {
    /// Width in CSS pixels.
    pub width: f32,
    /// Height in CSS pixels.
    pub height: f32,
}

impl Viewport {
    /// Pixels per well unit: the well (radius about 1) fills most of the smaller side.
    pub fn scale(&self) -> f32 {
        (self.width.min(self.height / 0.75) * 0.44).max(60.0)
    }

    /// The size of a full card at scale 1 here.
    pub fn card_size(&self) -> (f32, f32) {
        if self.width < PHONE_WIDTH {
            PHONE_CARD_SIZE
        } else {
            CARD_SIZE
        }
    }

    /// Screen velocity (CSS px per second) to a well impulse (units per second), the inverse of
    /// [`project`] in the plane of the well.
    pub fn impulse_from_screen(&self, vx: f32, vy: f32) -> [f32; 2] {
        let scale = self.scale();
        [vx / scale, vy / (scale * TILT_Y)]
    }
}

/// The closest a shopper can zoom out (the whole well) and in.
pub const ZOOM_RANGE: (f32, f32) = (1.0, 6.0);

/// The shopper's zoom and pan of the well, this page only: at zoom 1 with no pan the whole well
/// is in view. Zooming spreads the bodies apart (cards grow more slowly than the distances
/// between them), so a crowded well becomes readable.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Camera {
    /// Magnification, within [`ZOOM_RANGE`].
    pub zoom: f32,
    /// Offset of the well's centre from the screen's, CSS px.
    pub pan: [f32; 2],
}

impl Default for Camera {
    fn default() -> Self {
        Self { zoom: 1.0, pan: [0.0, 0.0] }
    }
}

impl Camera {
    /// This camera with its zoom in range and its pan keeping some of the well in view; the
    /// whole well at zoom 1. Non-finite values give the default camera.
    pub fn clamped(self, viewport: Viewport) -> Self {
        if !self.zoom.is_finite() || !self.pan.iter().all(|p| p.is_finite()) {
            return Self::default();
        }
        let zoom = self.zoom.clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
        // The well's rim (radius 1) may move at most to the screen's centre.
        let reach = viewport.scale() * (zoom - 1.0);
        let pan = [self.pan[0].clamp(-reach, reach), self.pan[1].clamp(-reach * TILT_Y, reach * TILT_Y)];
        Self { zoom, pan }
    }

    /// Zooms by `factor` keeping the point `at` (CSS px from the well's top left) where it is on
    /// screen, as a wheel or a pinch does.
    pub fn zoom_at(self, viewport: Viewport, factor: f32, at: (f32, f32)) -> Self {
        let zoom = (self.zoom * factor).clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
        let k = zoom / self.zoom;
        // The point's offset from the well's centre scales with the zoom; the pan makes up the rest.
        let (cx, cy) = (viewport.width / 2.0, viewport.height / 2.0);
        let pan = [(at.0 - cx) - (at.0 - cx - self.pan[0]) * k, (at.1 - cy) - (at.1 - cy - self.pan[1]) * k];
        Self { zoom, pan }.clamped(viewport)
    }

    /// Moves the well by (`dx`, `dy`) CSS px, as a drag on empty space does.
    pub fn pan_by(self, viewport: Viewport, dx: f32, dy: f32) -> Self {
        Self { zoom: self.zoom, pan: [self.pan[0] + dx, self.pan[1] + dy] }.clamped(viewport)
    }

    /// How much bigger bodies are drawn at this zoom.
    pub fn size_factor(&self) -> f32 {
        self.zoom.sqrt()
    }
}

/// Pointer samples older than this (ms) before the release do not count toward a flick.
pub const FLICK_WINDOW_MS: f64 = 80.0;
/// Impulses shorter than this are a release, not a flick.
const FLICK_MIN_IMPULSE: f32 = 0.02;

/// The impulse of a flick (well units per second, clamped to `max_impulse`) from a drag's pointer
/// `samples` (`(ms, x, y)`, oldest first) released at `release`: the velocity over the last
/// [`FLICK_WINDOW_MS`] of movement (at least the last segment), in the well's plane at the
/// camera's zoom. `None` when the pointer was held still before the release, or barely moved.
pub fn flick_impulse(
    viewport: Viewport,
    camera: Camera,
    samples: &[(f64, f64, f64)],
    release: (f64, f64, f64),
    max_impulse: f32,
) -> Option<[f32; 3]> {
    let (now, x, y) = release;
    let last = samples.last()?;
    if now - last.0 > FLICK_WINDOW_MS {
        return None;
    }
    let mut samples = samples.to_vec();
    // The release usually repeats the last move's position: it adds no segment.
    if (last.1, last.2) != (x, y) {
        samples.push(release);
    }
    if samples.len() < 2 {
        return None;
    }
    let end = *samples.last()?;
    let in_window = samples.iter().position(|s| now - s.0 <= FLICK_WINDOW_MS).unwrap_or(0);
    let first = samples[in_window.min(samples.len() - 2)];
    let dt = (end.0 - first.0).max(8.0);
    let [vx, vy] = viewport.impulse_from_screen(
        ((end.1 - first.1) / dt * 1000.0) as f32 / camera.zoom,
        ((end.2 - first.2) / dt * 1000.0) as f32 / camera.zoom,
    );
    let length = (vx * vx + vy * vy).sqrt();
    // NaN (a broken sample) is no flick either.
    if length.is_nan() || length <= FLICK_MIN_IMPULSE {
        return None;
    }
    let k = if length > max_impulse { max_impulse / length } else { 1.0 };
    Some([vx * k, vy * k, 0.0])
}

/// Where one body shows: its centre relative to the well's centre, and how big it is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Horizontal offset from the well's centre, CSS px.
    pub dx: f32,
    /// Vertical offset from the well's centre, CSS px.
    pub dy: f32,
    /// Size factor (1 is a card's nominal size).
    pub size: f32,
}

/// A tilted view of the well: depth lowers the body and makes it bigger; mass makes it heftier.
pub fn project(x: f32, y: f32, z: f32, mass: f32, scale: f32) -> Placement {
    let depth = 0.62 + 0.18 * z.clamp(-1.0, 1.0);
    let heft = 0.85 + 0.12 * (1.0 + mass.max(0.0)).ln();
    Placement { dx: x * scale, dy: y * scale * TILT_Y + z * scale * TILT_Z, size: depth * heft }
}

/// How each body is drawn this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// The whole card: image, name, price, stock.
    Card,
    /// A small planet.
    Planet,
}

/// The longest search a shopper may type (the search box's `maxlength`; the server refuses more).
pub const SEARCH_MAX_CHARS: usize = 80;

/// The most products a search pulls into the inner orbit.
pub const PULLED_MAX: usize = 8;
/// Radius of the inner orbit that searched-for products are pulled into, in well units.
const INNER_ORBIT: f32 = 0.42;

/// Placements, levels of detail and paint order for every body, computed from a positions buffer
/// (`[x, y, z, mass]` per body, [`STRIDE`] floats).
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Per body: x, y, width, height, rank ([`LAYOUT_STRIDE`] floats).
    pub rects: Vec<f32>,
    /// Body indices from the back to the front: the order to paint in.
    pub order: Vec<usize>,
    /// The level of detail by body.
    pub detail: Vec<Detail>,
    /// Where each body shows in the well this frame (kept between frames: no allocation per frame).
    placements: Vec<Placement>,
    /// The search's matches laid out this frame (likewise kept).
    pulled: Vec<usize>,
}

impl Layout {
    /// Lays out `positions` in `viewport`. Bodies in `pulled` (a search's matches) are shown on
    /// an inner orbit at the front of the well, this shopper's view only. Those and the bodies in
    /// `featured` (focused, hovered) are always full cards and painted in front of all others, in
    /// the order given.
    /// The `camera` zooms and pans the well; the pulled orbit stays at the screen's centre.
    pub fn compute(
        &mut self,
        positions: &[f32],
        viewport: Viewport,
        camera: Camera,
        pulled: &[usize],
        featured: &[usize],
    ) {
        let count = positions.len() / STRIDE;
        let base_scale = viewport.scale();
        let scale = base_scale * camera.zoom;
        let grow = camera.size_factor();
        let (card_w, card_h) = viewport.card_size();
        let (cx, cy) = (viewport.width / 2.0, viewport.height / 2.0);
        self.rects.clear();
        self.rects.resize(count * LAYOUT_STRIDE, 0.0);
        self.detail.clear();
        self.detail.resize(count, Detail::Planet);
        // Depth first: the nearest bodies (largest z) are cards, painted last.
        self.order.clear();
        self.order.extend((0..count).filter(|i| !featured.contains(i) && !pulled.contains(i)));
        let z = |i: usize| positions[i * STRIDE + 2];
        self.order.sort_by(|a, b| z(*a).total_cmp(&z(*b)).then(a.cmp(b)));
        // Where each body shows in the well, projected once (a search's matches move below).
        self.placements.clear();
        self.placements.extend(positions.chunks_exact(STRIDE).map(|p| {
            let mut at = project(p[0], p[1], p[2], p[3], scale);
            at.size *= grow;
            at
        }));
        let (well_x, well_y) = (cx + camera.pan[0], cy + camera.pan[1]);
        // The nearest bodies on screen are cards (zoomed in, many are off screen).
        let placements = &self.placements;
        let margin = card_w * grow;
        let on_screen = |i: usize| {
            let (x, y) = (well_x + placements[i].dx, well_y + placements[i].dy);
            x > -margin && x < viewport.width + margin && y > -margin && y < viewport.height + margin
        };
        let mut cards_left = if count < ALL_CARDS_UNDER { count } else { FULL_CARDS };
        for &i in self.order.iter().rev() {
            if cards_left == 0 {
                break;
            }
            if on_screen(i) {
                self.detail[i] = Detail::Card;
                cards_left -= 1;
            }
        }
        self.pulled.clear();
        self.pulled.extend(pulled.iter().copied().filter(|i| *i < count).take(PULLED_MAX));
        for &i in self.pulled.iter().chain(featured.iter().filter(|i| **i < count && !self.pulled.contains(i))) {
            self.detail[i] = Detail::Card;
            self.order.push(i);
        }
        let pulled = &self.pulled;
        for (rank, &i) in self.order.iter().enumerate() {
            let (at, centre) = match pulled.iter().position(|&j| j == i) {
                Some(slot) => {
                    let angle = std::f32::consts::TAU * slot as f32 / pulled.len() as f32;
                    let radius = if pulled.len() == 1 { 0.0 } else { INNER_ORBIT };
                    let mass = positions[i * STRIDE + 3];
                    (project(angle.cos() * radius, angle.sin() * radius, 0.6, mass, base_scale), (cx, cy))
                }
                None => (self.placements[i], (well_x, well_y)),
            };
            let (w, h) = match self.detail[i] {
                Detail::Card => (card_w * at.size, card_h * at.size),
                Detail::Planet => (PLANET_DIAMETER * at.size, PLANET_DIAMETER * at.size),
            };
            let rect = &mut self.rects[i * LAYOUT_STRIDE..(i + 1) * LAYOUT_STRIDE];
            rect.copy_from_slice(&[centre.0 + at.dx - w / 2.0, centre.1 + at.dy - h / 2.0, w, h, rank as f32]);
        }
    }
}

/// Products whose name matches a shopper's search, best first, at most [`PULLED_MAX`]: every word
/// of the query must start a word of the name, appear in it, or be one typo (an edit) away from
/// one of its words. Queries under two letters match nothing.
pub fn search(names: &[String], query: &str) -> Vec<usize> {
    let query = query.trim().to_lowercase();
    if query.chars().count() < 2 {
        return Vec::new();
    }
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut scored: Vec<(u32, usize)> = names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            let name = name.to_lowercase();
            if name.contains(&query) {
                return Some((0, index));
            }
            let name_words: Vec<&str> = name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            let mut score = 1;
            for word in &words {
                let exact = name_words.iter().any(|n| n.starts_with(word)) || name.contains(word);
                let near = word.chars().count() >= 4 && name_words.iter().any(|n| one_edit_apart(word, n));
                match (exact, near) {
                    (true, _) => {}
                    (false, true) => score += 1,
                    (false, false) => return None,
                }
            }
            Some((score, index))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(PULLED_MAX).map(|(_, index)| index).collect()
}

/// Whether `a` becomes `b` (or a prefix of `b` as long as `a`) with at most one insertion,
/// deletion, substitution or swap of neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Compare against the name word's prefix, so "headphnes" finds "headphones".
    let candidates = [b.len().min(a.len()), b.len().min(a.len() + 1), b.len().min(a.len().saturating_sub(1))];
    candidates.iter().any(|&n| edits_within_one(&a, &b[..n]))
}

fn edits_within_one(a: &[char], b: &[char]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let first = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let (ra, rb) = (&a[first..], &b[first..]);
    if ra.is_empty() || rb.is_empty() {
        return ra.len() + rb.len() <= 1;
    }
    ra[1..] == rb[1..]
        || ra[1..] == *rb
        || *ra == rb[1..]
        || (ra.len() >= 2 && rb.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
}

/// The body drawn at (`x`, `y`) in a layout's `rects` (the frontmost one), if any.
pub fn hit_test(rects: &[f32], x: f32, y: f32) -> Option<usize> {
    rects
        .chunks_exact(LAYOUT_STRIDE)
        .enumerate()
        .filter(|(_, r)| r[4] >= 0.0 && x >= r[0] && x <= r[0] + r[2] && y >= r[1] && y <= r[1] + r[3])
        .max_by(|a, b| a.1[4].total_cmp(&b.1[4]))
        .map(|(i, _)| i)
}

/// How a stock level reads on a card, and its CSS class: "12 in stock", "Only 2 left" (low
/// stock, which also feeds the Redshift glitch) or "Sold out".
pub fn stock_label(stock: i64) -> (String, &'static str) {
    match stock {
        s if s <= 0 => ("Sold out".to_string(), "stock stock-out"),
        s if s <= LOW_STOCK => (format!("Only {s} left"), "stock stock-low"),
        s => (format!("{s} in stock"), "stock"),
    }
}

/// The Redshift glitch's instability, 0 to 1: a fast price move, low stock and contention
/// (communal mass over the base mass, 0 to 1: many shoppers flicking or beaming the product) are
/// worth half each. A card glitches from 0.5 on ([`REDSHIFT_FROM`]), harder as it grows.
pub fn instability(price_jumped: bool, low_stock: bool, contention: f32) -> f32 {
    let half = |on: bool| if on { 0.5 } else { 0.0 };
    (half(price_jumped) + half(low_stock) + 0.5 * contention.clamp(0.0, 1.0)).min(1.0)
}

/// Contention from a product's communal mass: 0 at its base mass, 1 at twice that or more.
pub fn contention(mass: f32, base_mass: f32) -> f32 {
    (mass / base_mass.max(0.1) - 1.0).clamp(0.0, 1.0)
}

/// Formats cents as US dollars: `123456` → `"$1,234.56"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
    for (n, ch) in dollars.chars().enumerate() {
        if n > 0 && (dollars.len() - n).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// Whether a price move from `previous` to `now` (cents) is fast: 1 % or more in one update.
pub fn price_jumped(previous: i64, now: i64) -> bool {
    previous > 0 && (now - previous).abs() as f64 >= 0.01 * previous as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(bodies: &[[f32; 4]]) -> Vec<f32> {
        bodies.iter().flatten().copied().collect()
    }

    const WIDE: Viewport = Viewport { width: 1000.0, height: 700.0 };

    #[test]
    fn depth_lowers_and_enlarges_and_mass_adds_heft() {
        let scale = WIDE.scale();
        let back = project(0.0, 0.0, -1.0, 1.0, scale);
        let front = project(0.0, 0.0, 1.0, 1.0, scale);
        assert!(front.dy > back.dy && front.size > back.size);
        assert!(project(0.0, 0.0, 0.0, 8.0, scale).size > project(0.0, 0.0, 0.0, 1.0, scale).size);
        assert_eq!(project(0.5, 0.0, 0.0, 1.0, scale).dx, 0.5 * scale);
    }

    #[test]
    fn a_screen_flick_maps_back_to_the_impulse_that_would_draw_it() {
        let scale = WIDE.scale();
        let [vx, vy] = WIDE.impulse_from_screen(2.0 * scale, TILT_Y * scale);
        assert!((vx - 2.0).abs() < 1e-5 && (vy - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_nearest_bodies_are_cards_painted_last_and_the_rest_planets() {
        // 100 bodies on a line of depth: z from -1 (back) to +1 (front).
        let bodies: Vec<[f32; 4]> = (0..100).map(|i| [0.0, 0.0, -1.0 + i as f32 / 49.5, 1.0]).collect();
        let mut layout = Layout::default();
        layout.compute(&positions(&bodies), WIDE, Camera::default(), &[], &[]);
        assert_eq!(layout.order.len(), 100);
        assert_eq!(*layout.order.last().unwrap(), 99, "the frontmost is painted last");
        assert_eq!(layout.detail.iter().filter(|d| **d == Detail::Card).count(), FULL_CARDS);
        assert_eq!(layout.detail[99], Detail::Card);
        assert_eq!(layout.detail[0], Detail::Planet);
        // Everything overlaps at the centre: the hit is the frontmost card.
        assert_eq!(hit_test(&layout.rects, 500.0, 350.0 + 0.35 * WIDE.scale()), Some(99));
    }

    #[test]
    fn a_featured_body_is_a_card_in_front_of_everything() {
        let bodies: Vec<[f32; 4]> = (0..100).map(|i| [0.0, 0.0, -1.0 + i as f32 / 49.5, 1.0]).collect();
        let mut layout = Layout::default();
        layout.compute(&positions(&bodies), WIDE, Camera::default(), &[], &[3]);
        assert_eq!(layout.detail[3], Detail::Card, "a planet at the back becomes a card");
        assert_eq!(*layout.order.last().unwrap(), 3);
        let r = &layout.rects[3 * LAYOUT_STRIDE..4 * LAYOUT_STRIDE];
        assert_eq!(hit_test(&layout.rects, r[0] + r[2] / 2.0, r[1] + r[3] / 2.0), Some(3));
    }

    #[test]
    fn few_products_are_all_cards_and_empty_space_hits_nothing() {
        let bodies = [[-1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0]];
        let mut layout = Layout::default();
        layout.compute(&positions(&bodies), WIDE, Camera::default(), &[], &[]);
        assert!(layout.detail.iter().all(|d| *d == Detail::Card));
        assert_eq!(hit_test(&layout.rects, 500.0, 20.0), None);
        let left = &layout.rects[..LAYOUT_STRIDE];
        assert_eq!(hit_test(&layout.rects, left[0] + 1.0, left[1] + 1.0), Some(0));
    }

    #[test]
    fn a_search_pulls_its_matches_to_the_front_uncovered() {
        let bodies: Vec<[f32; 4]> = (0..300).map(|i| [0.01 * i as f32, 0.0, -1.0 + i as f32 / 150.0, 1.0]).collect();
        let mut layout = Layout::default();
        layout.compute(&positions(&bodies), WIDE, Camera::default(), &[5, 7], &[]);
        let top: Vec<usize> = layout.order.iter().rev().take(2).copied().collect();
        assert!(top.contains(&5) && top.contains(&7));
        assert_eq!(layout.detail[5], Detail::Card);
        // Each is the hit at its own centre: nothing is painted over it.
        for i in [5, 7] {
            let r = &layout.rects[i * LAYOUT_STRIDE..(i + 1) * LAYOUT_STRIDE];
            assert_eq!(hit_test(&layout.rects, r[0] + r[2] / 2.0, r[1] + r[3] / 2.0), Some(i));
        }
    }

    #[test]
    fn search_finds_names_by_part_and_forgives_a_typo() {
        let names: Vec<String> =
            ["Andromeda Fountain Pen", "Apollo Travel Backpack", "Nebula Headphones", "Pen Holder"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(search(&names, "fountain"), vec![0]);
        assert_eq!(search(&names, "PEN"), vec![0, 3], "case does not matter; both contain it");
        assert_eq!(search(&names, "headphnes"), vec![2], "one letter missing");
        assert_eq!(search(&names, "bakcpack"), vec![1], "two letters swapped");
        assert_eq!(search(&names, "travel pack"), vec![1]);
        assert!(search(&names, "x").is_empty(), "one letter is not a search");
        assert!(search(&names, "zeppelin").is_empty());
        assert!(search(&names, "</title><script>").is_empty());
    }

    #[test]
    fn zooming_at_a_point_keeps_it_in_place_and_spreads_the_bodies() {
        let bodies: Vec<[f32; 4]> = (0..200).map(|i| [0.004 * i as f32 - 0.4, 0.1, 0.0, 1.0]).collect();
        let centre_of = |layout: &Layout, i: usize| {
            let r = &layout.rects[i * LAYOUT_STRIDE..(i + 1) * LAYOUT_STRIDE];
            (r[0] + r[2] / 2.0, r[1] + r[3] / 2.0)
        };
        let mut before = Layout::default();
        before.compute(&positions(&bodies), WIDE, Camera::default(), &[], &[]);
        let at = centre_of(&before, 150);
        let camera = Camera::default().zoom_at(WIDE, 3.0, at);
        let mut after = Layout::default();
        after.compute(&positions(&bodies), WIDE, camera, &[], &[]);
        let moved = centre_of(&after, 150);
        assert!((moved.0 - at.0).abs() < 0.5 && (moved.1 - at.1).abs() < 0.5, "{at:?} → {moved:?}");
        let gap = |l: &Layout| centre_of(l, 101).0 - centre_of(l, 100).0;
        assert!((gap(&after) / gap(&before) - 3.0).abs() < 0.01, "three times as far apart");
        // The card budget goes to bodies on screen.
        for (i, detail) in after.detail.iter().enumerate() {
            let (x, _) = centre_of(&after, i);
            if *detail == Detail::Card {
                assert!(x > -200.0 && x < WIDE.width + 200.0, "card {i} off screen at {x}");
            }
        }
    }

    #[test]
    fn the_camera_stays_in_range_and_keeps_the_well_in_view() {
        assert_eq!(Camera { zoom: 0.2, pan: [500.0, 0.0] }.clamped(WIDE), Camera::default(), "zoom 1 shows it all");
        assert_eq!(Camera { zoom: 99.0, pan: [0.0, 0.0] }.clamped(WIDE).zoom, ZOOM_RANGE.1);
        assert_eq!(Camera { zoom: f32::NAN, pan: [0.0, 0.0] }.clamped(WIDE), Camera::default());
        let far = Camera { zoom: 2.0, pan: [0.0, 0.0] }.pan_by(WIDE, 1.0e6, -1.0e6);
        assert_eq!(far.pan[0], WIDE.scale(), "the rim reaches the centre at most");
        assert!(far.pan[1] < 0.0 && far.pan[1] >= -WIDE.scale());
    }

    #[test]
    fn a_flick_is_the_last_movement_in_the_plane_clamped() {
        let max = 1.5;
        let scale = WIDE.scale() as f64;
        // Moving right at one well unit per second, steadily, released while moving.
        let samples: Vec<(f64, f64, f64)> = (0..10).map(|k| (k as f64 * 10.0, k as f64 * scale / 100.0, 0.0)).collect();
        let release = (100.0, 10.0 * scale / 100.0, 0.0);
        let [vx, vy, vz] = flick_impulse(WIDE, Camera::default(), &samples, release, max).expect("a flick");
        assert!((vx - 1.0).abs() < 1e-3 && vy == 0.0 && vz == 0.0, "{vx} {vy}");
        // Zoomed in three times, the same screen movement is a third of the impulse.
        let zoomed = Camera { zoom: 3.0, pan: [0.0, 0.0] };
        let [vx3, ..] = flick_impulse(WIDE, zoomed, &samples, release, max).expect("a flick");
        assert!((vx3 - 1.0 / 3.0).abs() < 1e-3);
        // Only the last 80 ms count: a slow start does not dilute a fast end.
        let mut fast_end = vec![(0.0, 0.0, 0.0), (500.0, 1.0, 0.0)];
        fast_end.extend((1..=5).map(|k| (500.0 + k as f64 * 10.0, 1.0 + k as f64 * scale / 10.0, 0.0)));
        let [fast, ..] = flick_impulse(WIDE, Camera::default(), &fast_end, (560.0, fast_end[6].1, 0.0), 99.0).unwrap();
        assert!((fast - 10.0).abs() < 0.5, "{fast}");
        // Clamped to the largest impulse, direction kept.
        let [cx, cy, _] = flick_impulse(WIDE, Camera::default(), &fast_end, (560.0, fast_end[6].1, 0.0), max).unwrap();
        assert!(((cx * cx + cy * cy).sqrt() - max).abs() < 1e-4);
        // Held still for longer than the window before the release: nothing is thrown.
        assert_eq!(flick_impulse(WIDE, Camera::default(), &samples, (300.0, release.1, 0.0), max), None);
        // A release where the drag began, at once: too slow to be a flick.
        assert_eq!(flick_impulse(WIDE, Camera::default(), &[(0.0, 5.0, 5.0)], (10.0, 5.0, 5.0), max), None);
    }

    #[test]
    fn phones_get_smaller_cards() {
        assert_eq!(Viewport { width: 390.0, height: 600.0 }.card_size(), PHONE_CARD_SIZE);
        assert_eq!(WIDE.card_size(), CARD_SIZE);
    }

    #[test]
    fn any_of_price_stock_or_contention_alone_is_enough_for_redshift() {
        assert_eq!(instability(false, false, 0.0), 0.0);
        for alone in [instability(true, false, 0.0), instability(false, true, 0.0), instability(false, false, 1.0)] {
            assert!(alone >= REDSHIFT_FROM, "{alone}");
        }
        assert!(instability(false, false, 0.4) < REDSHIFT_FROM, "mild interest is calm");
        assert_eq!(instability(true, true, 1.0), 1.0, "capped");
        assert!(price_jumped(1000, 1010) && !price_jumped(1000, 1009) && !price_jumped(0, 5));
    }

    #[test]
    fn stock_reads_in_words() {
        assert_eq!(stock_label(0), ("Sold out".to_string(), "stock stock-out"));
        assert_eq!(stock_label(LOW_STOCK), (format!("Only {LOW_STOCK} left"), "stock stock-low"));
        assert_eq!(stock_label(12), ("12 in stock".to_string(), "stock"));
    }

    #[test]
    fn contention_grows_with_mass_over_the_base() {
        assert_eq!(contention(1.0, 1.0), 0.0);
        assert_eq!(contention(0.5, 1.0), 0.0, "below the base is calm");
        assert!((contention(3.0, 2.0) - 0.5).abs() < 1e-6);
        assert_eq!(contention(9.0, 2.0), 1.0);
    }
}
