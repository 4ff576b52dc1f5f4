//! The browser's session (hydrate only): an access token for `/ws` and the REST API, kept in
//! `localStorage` and renewed shortly before it expires. A visitor without an account gets a
//! guest token (`POST /api/auth/guest`); signing in replaces it.

use wasm_bindgen::{JsCast, JsValue};
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

/// A JSON request to our own API with the stored token; returns (status, parsed body).
pub async fn api(method: &str, path: &str, body: Option<&str>) -> Result<(u16, JsValue), String> {
    api_with_headers(method, path, body, &[]).await
}

/// [`api`] with extra request headers (such as `Idempotency-Key`).
pub async fn api_with_headers(
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Result<(u16, JsValue), String> {
    let token = access_token().await?;
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|_| "no headers")?;
    let _ = headers.set("Authorization", &format!("Bearer {token}"));
    for (name, value) in extra_headers {
        let _ = headers.set(name, value);
    }
    if let Some(body) = body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|_| "the server is unreachable".to_string())?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "unexpected answer")?;
    let status = response.status();
    let json = match response.json() {
        Ok(promise) => JsFuture::from(promise).await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    Ok((status, json))
}

/// Signs in (`login`) or registers (`register`); the guest's cart orbit moves to the account.
/// On success the account's token replaces the guest token. Errors are the server's own words.
pub async fn sign_in(action: &str, email: &str, password: &str) -> Result<(), String> {
    let body = json_object(&[("email", email.into()), ("password", password.into())])?;
    let (status, json) = api("POST", &format!("/api/auth/{action}"), Some(&body)).await?;
    if status == 200 || status == 201 {
        let token = field(&json, "token").as_string().ok_or("no token in the answer")?;
        store(&token, field(&json, "expiresIn").as_f64().unwrap_or(900.0));
        return Ok(());
    }
    Err(field(&json, "message").as_string().unwrap_or_else(|| format!("the server answered {status}")))
}

/// A JSON object text from (field, value) pairs.
pub fn json_object(fields: &[(&str, JsValue)]) -> Result<String, String> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        let _ = js_sys::Reflect::set(&object, &(*name).into(), value);
    }
    js_sys::JSON::stringify(&object).ok().and_then(|s| s.as_string()).ok_or_else(|| "cannot encode the request".into())
}

/// A field of a parsed JSON value (`null` when absent).
pub fn field(value: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(value, &name.into()).unwrap_or(JsValue::NULL)
}
