//! The hydrate entry point, called by the script that `HydrationScripts` puts into every page.

use wasm_bindgen::prelude::wasm_bindgen;

/// Hydrates the server-rendered document with the same `App` the server rendered.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`: the operators' routes are lazy (split into chunks of their own by
    // `cargo leptos build --split`), which `hydrate_body` cannot hydrate.
    leptos::mount::hydrate_lazy(app::App);
}
