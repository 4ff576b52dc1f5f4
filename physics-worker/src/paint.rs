//! The well's painter, in the worker: every product's card is rasterised once into a bitmap of
//! its own (image, name, live price, stock line, cart-orbit count) and again only when that
//! content changes; a frame only places bitmaps, in depth order, at the level of detail
//! [`Layout`] chose, with the focus ring and the Redshift glitch drawn on top.

use wasm_bindgen::JsCast;
use web_sys::{ImageBitmap, OffscreenCanvas, OffscreenCanvasRenderingContext2d as Context};

use crate::view::{stock_label, Camera, Detail, Layout, Viewport, LAYOUT_STRIDE, PLANET_DIAMETER, REDSHIFT_FROM};

/// Cards rasterised per frame at most: new ones first (a body that just came to the front shows
/// as its planet until its card is ready, a frame or two later), then ones whose content changed.
/// Rasterising is the expensive part of a frame; placing bitmaps is cheap.
const RASTERS_PER_FRAME: usize = 3;
/// Card background.
const CARD_FILL: &str = "#11162e";
/// Card border, and a planet's ring.
const RIM: &str = "rgba(167,139,250,0.55)";
/// Cart orbit and focus colour.
const BEAM: &str = "#38bdf8";
/// Redshift colour.
const REDSHIFT: &str = "#f87171";
/// The well's font stack.
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', sans-serif";

/// What one product's card shows.
#[derive(Default)]
struct Face {
    name: String,
    price: String,
    stock: i64,
    in_cart: u32,
    image: Option<ImageBitmap>,
    /// The Redshift instability, 0 to 1 (drawn per frame, not rasterised).
    instability: f32,
    card: Option<OffscreenCanvas>,
    planet: Option<OffscreenCanvas>,
    /// The card's content changed since it was rasterised.
    stale: bool,
}

/// Paints the well into a canvas the page handed over.
pub struct Painter {
    canvas: OffscreenCanvas,
    context: Context,
    viewport: Viewport,
    dpr: f32,
    faces: Vec<Face>,
    layout: Layout,
    focus: Option<usize>,
    hover: Option<usize>,
    pulled: Vec<usize>,
    camera: Camera,
    /// Pixels per CSS pixel of the cards' rasters ([`raster_scale`]).
    raster_scale: f32,
}

/// A 2D context of a canvas, or why there is none.
fn context_of(canvas: &OffscreenCanvas) -> Result<Context, String> {
    canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or_else(|| "no 2d context".to_string())?
        .dyn_into::<Context>()
        .map_err(|_| "not a 2d context".to_string())
}

impl Painter {
    /// A painter for `canvas` (already sized by [`Painter::resize`]'s rules), or why it cannot paint.
    pub fn new(canvas: OffscreenCanvas, viewport: Viewport, dpr: f32) -> Result<Self, String> {
        let context = context_of(&canvas)?;
        let mut painter = Self {
            canvas,
            context,
            viewport,
            dpr,
            faces: Vec::new(),
            layout: Layout::default(),
            focus: None,
            hover: None,
            pulled: Vec::new(),
            camera: Camera::default(),
            raster_scale: dpr,
        };
        painter.resize(viewport, dpr);
        Ok(painter)
    }

    /// The well changed size on screen (or moved to a screen of another pixel ratio).
    pub fn resize(&mut self, viewport: Viewport, dpr: f32) {
        let dpr = dpr.clamp(1.0, 3.0);
        let rescaled = dpr != self.dpr || viewport.card_size() != self.viewport.card_size();
        self.viewport = viewport;
        self.camera = self.camera.clamped(viewport);
        self.dpr = dpr;
        self.canvas.set_width((viewport.width * dpr).round().max(1.0) as u32);
        self.canvas.set_height((viewport.height * dpr).round().max(1.0) as u32);
        if rescaled {
            self.forget_rasters();
        }
        self.follow_raster_scale();
    }

    /// Drops every card's and planet's raster: they are drawn again over the next frames (after
    /// a change of scale, or a context that was lost and restored).
    pub fn forget_rasters(&mut self) {
        for face in &mut self.faces {
            face.card = None;
            face.planet = None;
        }
    }

    /// The products, in index order: names, prices (cents, already formatted) and stock.
    pub fn set_products(&mut self, products: Vec<(String, String, i64)>) {
        let mut faces: Vec<Face> = Vec::with_capacity(products.len());
        for (index, (name, price, stock)) in products.into_iter().enumerate() {
            let image = self.faces.get_mut(index).and_then(|f| f.image.take());
            faces.push(Face { name, price, stock, image, ..Face::default() });
        }
        self.faces = faces;
    }

    /// Product `index`'s decoded image.
    pub fn set_image(&mut self, index: usize, image: ImageBitmap) {
        if let Some(face) = self.faces.get_mut(index) {
            face.image = Some(image);
            face.card = None;
            face.planet = None;
        }
    }

    /// Product `index`'s price, formatted.
    pub fn set_price(&mut self, index: usize, price: String) {
        if let Some(face) = self.faces.get_mut(index).filter(|f| f.price != price) {
            face.price = price;
            face.stale = true;
        }
    }

    /// Product `index`'s units in stock.
    pub fn set_stock(&mut self, index: usize, units: i64) {
        if let Some(face) = self.faces.get_mut(index).filter(|f| f.stock != units) {
            face.stock = units;
            face.stale = true;
        }
    }

    /// Product `index`'s Redshift instability.
    pub fn set_instability(&mut self, index: usize, level: f32) {
        if let Some(face) = self.faces.get_mut(index) {
            face.instability = level;
        }
    }

    /// The cart orbit: `(index, quantity)` lines.
    pub fn set_cart(&mut self, lines: &[(u32, u32)]) {
        for (index, face) in self.faces.iter_mut().enumerate() {
            let quantity = lines.iter().find(|l| l.0 as usize == index).map_or(0, |l| l.1);
            if face.in_cart != quantity {
                face.in_cart = quantity;
                face.stale = true;
            }
        }
    }

    /// The product with keyboard focus (drawn as a card, in front, with a ring).
    pub fn set_focus(&mut self, index: Option<usize>) {
        self.focus = index;
    }

    /// The product under the pointer (drawn as a card, in front).
    pub fn set_hover(&mut self, index: Option<usize>) {
        self.hover = index;
    }

    /// The products a search pulled into the inner orbit, best first.
    pub fn set_pulled(&mut self, indices: Vec<usize>) {
        self.pulled = indices;
    }

    /// The shopper's zoom and pan (kept in range for this viewport).
    pub fn set_camera(&mut self, camera: Camera) {
        self.camera = camera.clamped(self.viewport);
        self.follow_raster_scale();
    }

    /// Cards are rasterised again when their raster scale changed (a zoom step, another screen).
    fn follow_raster_scale(&mut self) {
        let scale = raster_scale(self.dpr, self.camera);
        if scale != self.raster_scale {
            self.raster_scale = scale;
            for face in &mut self.faces {
                face.card = None;
            }
        }
    }

    /// The last frame's layout (rectangles in CSS px from the canvas's top left).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Paints one frame from the manifold's `positions` at `now` (ms; drives the glitch).
    pub fn paint(&mut self, positions: &[f32], now: f64) {
        // Hover, then focus (painted last, so in front): no allocation per frame.
        let featured = [self.hover, self.focus];
        let featured: &[usize] = match featured {
            [Some(h), Some(f)] if h != f => &[h, f],
            [_, Some(f)] => &[f],
            [Some(h), None] => &[h],
            [None, None] => &[],
        };
        self.layout.compute(positions, self.viewport, self.camera, &self.pulled, featured);
        let ctx = &self.context;
        let _ = ctx.set_transform(self.dpr as f64, 0.0, 0.0, self.dpr as f64, 0.0, 0.0);
        ctx.clear_rect(0.0, 0.0, self.viewport.width as f64, self.viewport.height as f64);
        // New cards first, then changed ones, within one budget.
        let new_cards = (0..self.faces.len())
            .filter(|&i| self.layout.detail.get(i) == Some(&Detail::Card) && self.faces[i].card.is_none())
            .count();
        let mut new_budget = new_cards.min(RASTERS_PER_FRAME);
        let mut stale_budget = RASTERS_PER_FRAME - new_budget;
        let (card_w, card_h) = self.viewport.card_size();
        for k in 0..self.layout.order.len() {
            let index = self.layout.order[k];
            let Some(face) = self.faces.get_mut(index) else { continue };
            let r = &self.layout.rects[index * LAYOUT_STRIDE..index * LAYOUT_STRIDE + 4];
            let (x, y, w, h) = (r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64);
            match self.layout.detail[index] {
                Detail::Card if face.card.is_none() && new_budget == 0 => {
                    // Not rasterised yet and no budget left this frame: its planet stands in.
                    let side = (w.min(h) * 0.35).max(8.0);
                    if face.planet.is_none() {
                        face.planet = rasterise_planet(face, index, self.dpr);
                    }
                    if let Some(bitmap) = &face.planet {
                        let (px, py) = (x + (w - side) / 2.0, y + (h - side) / 2.0);
                        let _ = ctx.draw_image_with_offscreen_canvas_and_dw_and_dh(bitmap, px, py, side, side);
                    }
                }
                Detail::Card => {
                    let budget = if face.card.is_none() { &mut new_budget } else { &mut stale_budget };
                    if (face.card.is_none() || face.stale) && *budget > 0 {
                        *budget -= 1;
                        let previous = face.card.take();
                        face.card = rasterise_card(face, previous, index, card_w, card_h, self.raster_scale);
                        face.stale = false;
                    }
                    let Some(bitmap) = &face.card else { continue };
                    // The Redshift glitch: a red ghost that jumps, harder as instability grows.
                    if face.instability >= REDSHIFT_FROM && glitching(now, index, face.instability) {
                        let shift = 1.5 + 3.0 * face.instability as f64;
                        ctx.set_global_alpha(0.55);
                        ctx.set_fill_style_str(REDSHIFT);
                        ctx.fill_rect(x + shift, y, w, h);
                        ctx.set_global_alpha(1.0);
                    }
                    let _ = ctx.draw_image_with_offscreen_canvas_and_dw_and_dh(bitmap, x, y, w, h);
                    if self.focus == Some(index) {
                        ctx.set_stroke_style_str(BEAM);
                        ctx.set_line_width(3.0);
                        ctx.stroke_rect(x - 2.0, y - 2.0, w + 4.0, h + 4.0);
                    }
                }
                Detail::Planet => {
                    if face.planet.is_none() {
                        face.planet = rasterise_planet(face, index, self.dpr);
                    }
                    if let Some(bitmap) = &face.planet {
                        let _ = ctx.draw_image_with_offscreen_canvas_and_dw_and_dh(bitmap, x, y, w, h);
                    }
                }
            }
        }
    }
}

/// Whether the glitch shows at `now`: a short flash per cycle, the cycle shorter when unstable.
fn glitching(now: f64, index: usize, instability: f32) -> bool {
    let period = 1_600.0 - 1_000.0 * instability as f64;
    ((now + index as f64 * 137.0) % period) > period * 0.88
}

/// A placeholder colour for a product without its image yet.
fn hue(index: usize) -> String {
    format!("hsl({}, 70%, 45%)", (index * 47) % 360)
}

/// The pixels per CSS pixel cards are rasterised at: the screen's, times the camera's growth in
/// half steps (so zooming in keeps text sharp, and only a step re-rasterises the cards).
fn raster_scale(dpr: f32, camera: Camera) -> f32 {
    dpr * ((camera.size_factor() * 2.0).round() / 2.0).clamp(1.0, 2.5)
}

/// Draws a face's card into `canvas` (its previous raster, reused when the size matches: a new
/// canvas and context cost more than the drawing), or a new one.
fn rasterise_card(
    face: &Face,
    canvas: Option<OffscreenCanvas>,
    index: usize,
    width: f32,
    height: f32,
    dpr: f32,
) -> Option<OffscreenCanvas> {
    let (pixels_w, pixels_h) = ((width * dpr).ceil() as u32, (height * dpr).ceil() as u32);
    let canvas = match canvas {
        Some(canvas) if canvas.width() == pixels_w && canvas.height() == pixels_h => canvas,
        _ => OffscreenCanvas::new(pixels_w, pixels_h).ok()?,
    };
    let ctx = context_of(&canvas).ok()?;
    let _ = ctx.set_transform(dpr as f64, 0.0, 0.0, dpr as f64, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, width as f64, height as f64);
    let (w, h) = (width as f64, height as f64);
    ctx.set_fill_style_str(CARD_FILL);
    ctx.set_stroke_style_str(if face.in_cart > 0 { BEAM } else { RIM });
    ctx.set_line_width(if face.in_cart > 0 { 2.5 } else { 1.0 });
    ctx.begin_path();
    let _ = ctx.round_rect_with_f64(1.0, 1.0, w - 2.0, h - 2.0, 10.0);
    ctx.fill();
    ctx.stroke();
    let pad = 8.0;
    let side = (w - 2.0 * pad).min(h * 0.48);
    let image_x = (w - side) / 2.0;
    match &face.image {
        Some(image) => drop(ctx.draw_image_with_image_bitmap_and_dw_and_dh(image, image_x, pad, side, side)),
        None => {
            ctx.set_fill_style_str(&hue(index));
            ctx.fill_rect(image_x, pad, side, side);
        }
    }
    let mut y = pad + side + 15.0;
    let name_size = if w < 120.0 { 11.0 } else { 12.0 };
    ctx.set_font(&format!("600 {name_size}px {FONT}"));
    ctx.set_fill_style_str("#e5e7eb");
    for line in wrap(&ctx, &face.name, w - 2.0 * pad, 2) {
        let _ = ctx.fill_text(&line, pad, y);
        y += name_size + 3.0;
    }
    ctx.set_font(&format!("700 {}px {FONT}", name_size + 2.0));
    ctx.set_fill_style_str("#fde68a");
    let _ = ctx.fill_text(&face.price, pad, y + 3.0);
    let (stock, class) = stock_label(face.stock);
    ctx.set_font(&format!("{}px {FONT}", name_size - 1.0));
    ctx.set_fill_style_str(match class {
        c if c.contains("stock-out") => "#fca5a5",
        c if c.contains("stock-low") => "#fdba74",
        _ => "#cbd5e1",
    });
    let _ = ctx.fill_text(&stock, pad, y + name_size + 7.0);
    if face.in_cart > 0 {
        let badge = format!("×{}", face.in_cart);
        ctx.set_fill_style_str(BEAM);
        ctx.begin_path();
        let _ = ctx.round_rect_with_f64(w - 38.0, 4.0, 34.0, 18.0, 9.0);
        ctx.fill();
        ctx.set_fill_style_str("#0b1024");
        ctx.set_font(&format!("700 11px {FONT}"));
        let _ = ctx.fill_text(&badge, w - 31.0, 17.0);
    }
    Some(canvas)
}

fn rasterise_planet(face: &Face, index: usize, dpr: f32) -> Option<OffscreenCanvas> {
    let side = (PLANET_DIAMETER * dpr).ceil();
    let canvas = OffscreenCanvas::new(side as u32, side as u32).ok()?;
    let ctx = context_of(&canvas).ok()?;
    let radius = side as f64 / 2.0;
    ctx.begin_path();
    let _ = ctx.arc(radius, radius, radius - 1.0, 0.0, std::f64::consts::TAU);
    ctx.save();
    ctx.clip();
    match &face.image {
        Some(image) => drop(ctx.draw_image_with_image_bitmap_and_dw_and_dh(image, 0.0, 0.0, side as f64, side as f64)),
        None => {
            ctx.set_fill_style_str(&hue(index));
            ctx.fill_rect(0.0, 0.0, side as f64, side as f64);
        }
    }
    ctx.restore();
    ctx.set_stroke_style_str(RIM);
    ctx.set_line_width(dpr as f64);
    ctx.stroke();
    Some(canvas)
}

/// `text` broken into at most `lines` lines of `width` px, the last one cut with an ellipsis.
fn wrap(ctx: &Context, text: &str, width: f64, lines: usize) -> Vec<String> {
    let fits = |s: &str| ctx.measure_text(s).map(|m| m.width() <= width).unwrap_or(true);
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if fits(&candidate) || current.is_empty() {
            current = candidate;
            continue;
        }
        out.push(std::mem::take(&mut current));
        current = word.to_string();
        if out.len() == lines - 1 {
            let rest: Vec<&str> = std::iter::once(word).chain(words.by_ref()).collect();
            current = rest.join(" ");
            break;
        }
    }
    if !current.is_empty() {
        if !fits(&current) {
            let mut cut: String = current.clone();
            while !cut.is_empty() && !fits(&format!("{cut}…")) {
                cut.pop();
            }
            current = format!("{}…", cut.trim_end());
        }
        out.push(current);
    }
    out
}
