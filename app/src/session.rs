//! The browser's session (hydrate only): an access token for `/ws` and the REST API, kept in
//! `localStorage` and renewed shortly before it expires. A visitor without an account gets a
//! guest token (`POST /api/auth/guest`); signing in replaces it.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// `localStorage` key of the access token.
pub const TOKEN_KEY: &str = "swiftcart.token";
/// `localStorage` key of its expiry (ms since the epoch).
const EXPIRY_KEY: &str = "swiftcart.tokenExpiresAt";
/// A token this close to its expiry is renewed first.
const RENEW_MARGIN_MS: f64 = 60_000.0;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Stores a token that expires in `expires_in_secs`.
pub fn store(token: &str, expires_in_secs: f64) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(TOKEN_KEY, token);
        let _ = storage.set_item(EXPIRY_KEY, &(js_sys::Date::now() + expires_in_secs * 1000.0).to_string());
    }
}

/// A valid access token: the stored one, or a fresh guest token.
pub async fn access_token() -> Result<String, String> {
    if let Some(storage) = storage() {
        let token = storage.get_item(TOKEN_KEY).ok().flatten();
        let expiry = storage.get_item(EXPIRY_KEY).ok().flatten().and_then(|e| e.parse::<f64>().ok());
        if let (Some(token), Some(expiry)) = (token, expiry) {
            if expiry - js_sys::Date::now() > RENEW_MARGIN_MS {
                return Ok(token);
            }
        }
    }
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let response = JsFuture::from(window.fetch_with_str_and_init("/api/auth/guest", &init))
        .await
        .map_err(|_| "the server is unreachable".to_string())?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "unexpected answer")?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    let body =
        JsFuture::from(response.json().map_err(|_| "unexpected answer")?).await.map_err(|_| "unexpected answer")?;
    let token = js_sys::Reflect::get(&body, &"token".into()).ok().and_then(|t| t.as_string()).ok_or("no token")?;
    let expires_in = js_sys::Reflect::get(&body, &"expiresIn".into()).ok().and_then(|e| e.as_f64()).unwrap_or(900.0);
    store(&token, expires_in);
    Ok(token)
}
