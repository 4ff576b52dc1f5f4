//! SwiftCart's user interface: the same components render on the server and hydrate in the browser.

/// The catalog admin page.
pub mod admin;
/// The Alive UI on the main thread: the worker, the animation loop, gestures, the paradox.
#[cfg(feature = "hydrate")]
pub mod alive;
/// The REST answers the browser reads, typed once for both sides.
pub mod api;
/// Product data as the pages see it, and the server functions that load it.
pub mod catalog;
/// Stripe.js settings for the browser's card entry.
pub mod checkout;
/// DOM helpers of the browser-side modules.
#[cfg(feature = "hydrate")]
pub mod dom;
/// Formatting of money, which is always integer cents.
pub mod money;
/// The orders desk for admins (`/admin/orders`): orders, one order in full, refunds.
pub mod orders_desk;
/// One component per page.
pub mod pages;
/// The browser's session (guest or account): tokens in localStorage, renewed in one place.
#[cfg(feature = "hydrate")]
pub mod session;
/// Stripe.js in the page: card entry, payment methods, the bank's check (3-D Secure).
pub mod stripe_js;
/// The Hyperdrive checkout: components over one `CheckoutState`.
pub mod warp;
/// The painted well's page side: the canvas handed to the worker, images, hit tests.
#[cfg(feature = "hydrate")]
pub mod well_canvas;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode,
};

/// Text made safe to place in HTML, inside elements or double- or single-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The document title of a page titled `page` (a product's name, say).
///
/// leptos_meta writes the server's `<title>` text into the head as it is, so on the server the
/// title is escaped here: a product named `</title><script>…` stays text. In the browser it
/// becomes `document.title`, which is text already.
pub(crate) fn page_title(page: String) -> String {
    let title = if page.is_empty() { "SwiftCart".to_string() } else { format!("{page} · SwiftCart") };
    if cfg!(feature = "ssr") {
        escape_html(&title)
    } else {
        title
    }
}

/// The HTML document around the app, rendered by the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // Marks the document as scripted before the body is drawn, so the well's controls
                // that the script shows later have their room from the first paint (no layout
                // shift); without JavaScript nothing is reserved.
                <script nonce=leptos::nonce::use_nonce() inner_html=MARK_SCRIPTED></script>
                <AutoReload options=options.clone()/>
                // The bundles' names carry their content's hash when cargo-leptos wrote them so.
                <HashedStylesheet options=options.clone() id="leptos"/>
                // The hydration bundle and the worker are fetched after the first paint, so
                // they never compete with the page's own content (its largest image) for the
                // connection: rendered inert here, started by `START_AFTER_FIRST_PAINT`.
                <template id="hydration-scripts">
                    <HydrationScripts options/>
                    {worker_preloads()}
                </template>
                <script nonce=leptos::nonce::use_nonce() inner_html=START_AFTER_FIRST_PAINT></script>
                <MetaTags/>
            </head>
            <body class="bg-slate-950 text-slate-100 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// The first inline script of every page (allowed by the page's nonce): `<html class="js">`.
const MARK_SCRIPTED: &str = "document.documentElement.classList.add(\"js\")";

/// The second: once the document is parsed and its first contentful paint is on screen (at once
/// in a hidden tab, which paints nothing), puts the `#hydration-scripts` template's preloads where
/// the template stands (before the `<MetaTags/>` that leptos_meta hydrates by position) and runs
/// its hydration script with this page's nonce (a script copied from a template would stay inert).
const START_AFTER_FIRST_PAINT: &str = r#"(() => {
  const nonce = document.currentScript.nonce;
  const start = () => {
    const inert = document.getElementById("hydration-scripts");
    if (!inert || inert.dataset.started) return;
    inert.dataset.started = "1";
    const runnable = (inertScript) => {
      const script = document.createElement("script");
      script.type = inertScript.type;
      script.setAttribute("nonce", nonce);
      script.textContent = inertScript.textContent;
      return script;
    };
    for (const node of inert.content.children) {
      inert.before(node.tagName === "SCRIPT" ? runnable(node) : node.cloneNode(true));
    }
  };
  // After the first contentful paint is on screen: its timing entry arrives once the frame was
  // presented (a frame's `requestAnimationFrame` runs before it is). Without paint timing, or if
  // it never comes, after the next frame or 3 s.
  const afterPaint = () => {
    if (document.hidden) return start();
    const painted = performance.getEntriesByName("first-contentful-paint").length > 0;
    if (painted || !PerformanceObserver.supportedEntryTypes?.includes("paint")) {
      return requestAnimationFrame(() => setTimeout(start, 0));
    }
    new PerformanceObserver((list, observer) => {
      if (list.getEntriesByName("first-contentful-paint").length === 0) return;
      observer.disconnect();
      setTimeout(start, 0);
    }).observe({ type: "paint", buffered: true });
    setTimeout(start, 3000);
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", afterPaint, { once: true });
  } else {
    afterPaint();
  }
})()"#;

/// Where the physics worker's script and WebAssembly are served: `/worker/worker.<hash>.js` and
/// `/worker/worker_bg.<hash>.wasm` as scripts/build-worker.sh names them, or the plain names of a
/// bundle built without hashes. The server finds them when it starts and provides them as context;
/// the home page's `<link id="worker-script">` tells the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerBundle {
    /// The worker's script.
    pub script: String,
    /// Its WebAssembly.
    pub wasm: String,
}

impl Default for WorkerBundle {
    fn default() -> Self {
        Self { script: "/worker/worker.js".into(), wasm: "/worker/worker_bg.wasm".into() }
    }
}

impl WorkerBundle {
    /// The bundle in `site_root/worker`: the newest `worker.*.js` and `worker_bg.*.wasm`, else the
    /// plain names.
    #[cfg(feature = "ssr")]
    pub fn find(site_root: &str) -> Self {
        let newest = |prefix: &str, suffix: &str| {
            std::fs::read_dir(std::path::Path::new(site_root).join("worker"))
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let modified = entry.metadata().ok()?.modified().ok()?;
                    (name.starts_with(prefix) && name.ends_with(suffix)).then_some((modified, name))
                })
                .max()
                .map(|(_, name)| format!("/worker/{name}"))
        };
        let plain = Self::default();
        Self {
            script: newest("worker.", ".js").unwrap_or(plain.script),
            wasm: newest("worker_bg.", ".wasm").unwrap_or(plain.wasm),
        }
    }
}

/// The home page fetches the physics worker and its WebAssembly while it hydrates. Rendered by
/// the server only (the shell is never hydrated); the page's script reads the worker's address
/// from `#worker-script`.
fn worker_preloads() -> AnyView {
    #[cfg(feature = "ssr")]
    {
        let home = use_context::<http::request::Parts>().is_some_and(|parts| parts.uri.path() == "/");
        if let (true, Some(worker)) = (home, use_context::<WorkerBundle>()) {
            return view! {
                <link id="worker-script" rel="modulepreload" href={worker.script}/>
                <link rel="preload" href={worker.wasm} r#as="fetch" r#type="application/wasm" crossorigin="anonymous"/>
            }
            .into_any();
        }
    }
    ().into_any()
}

/// The Content-Security-Policy of pages, with `{nonce}` where each response's own nonce goes;
/// the server provides it as context. Leptos puts the same nonce on the hydration scripts, so
/// they run and no injected script does.
#[derive(Clone, Debug)]
pub struct PagePolicy(pub String);

/// Sends this page's Content-Security-Policy, with the nonce of this response.
#[cfg(feature = "ssr")]
fn send_page_policy() {
    let policy = use_context::<PagePolicy>();
    let nonce = leptos::nonce::use_nonce();
    let response = use_context::<leptos_axum::ResponseOptions>();
    if let (Some(policy), Some(nonce), Some(response)) = (policy, nonce, response) {
        if let Ok(value) = http::HeaderValue::from_str(&policy.0.replace("{nonce}", &nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// Sign out: the server ends the session (`POST /api/auth/logout`), the page becomes a new
/// guest with an empty cart orbit and goes back to the Gravity Well.
fn sign_out(_: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async {
        if let Err(why) = session::sign_out().await {
            leptos::logging::warn!("sign out: {why}");
        }
        let _ = dom::window().location().assign("/");
    });
}

/// The application: header and routes. Pages render fully on the server (`SsrMode::Async`) so
/// that they work without JavaScript and answer with the right status code.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Whether the browser holds an account's session (not a guest's): the header offers Sign out.
    let signed_in = RwSignal::new(false);
    // Effects only run in the browser: this marks the document once hydration has happened,
    // which the end-to-end tests (and anyone debugging) can observe.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
        #[cfg(feature = "hydrate")]
        {
            session::install();
            signed_in.set(session::holds_account());
            session::on_change(move |_| signed_in.set(session::holds_account()));
        }
    });
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Meta name="description" content="SwiftCart: a storefront where products orbit in a live Gravity Well."/>
        <Router>
            <header class="site-header">
                <a href="/" class="brand">"SwiftCart"</a>
                <span class="tagline">"Gravity Well commerce"</span>
                <nav class="site-nav" aria-label="Account">
                    <a href="/orders">"Orders"</a>
                    <Show when=move || signed_in.get() fallback=|| view! { <a href="/login">"Sign in"</a> }>
                        <button type="button" class="sign-out" data-testid="sign-out" on:click=sign_out>
                            "Sign out"
                        </button>
                    </Show>
                </nav>
            </header>
            <main class="site-main">
                <Routes fallback=pages::NotFound>
                    <Route path=path!("/") view=pages::GravityWell ssr=SsrMode::Async/>
                    // Every page but the well loads as a chunk of its own (`--split`): a visit to the
                    // well fetches only the well, and shoppers never fetch the operators' pages.
                    <Route path=path!("/p/:slug") view={Lazy::<pages::ProductRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/login") view={Lazy::<pages::SignInRoute>::new()}/>
                    <Route path=path!("/register") view={Lazy::<pages::RegisterRoute>::new()}/>
                    <Route path=path!("/orders") view={Lazy::<pages::OrdersRoute>::new()}/>
                    <Route path=path!("/admin") view={Lazy::<admin::AdminRoute>::new()}/>
                    <Route path=path!("/admin/orders") view={Lazy::<orders_desk::OrdersDeskRoute>::new()}/>
                </Routes>
            </main>
        </Router>
    }
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn markup_in_text_stays_text() {
        assert_eq!(
            escape_html(r#"</title><script>alert('x')</script> & "quotes""#),
            "&lt;/title&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
        );
        assert_eq!(escape_html("Aurora Merino Throw"), "Aurora Merino Throw");
    }
}
