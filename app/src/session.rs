//! The browser's session (hydrate only), in one place for every caller: the access token for
//! `/ws` and the REST API and the refresh token that renews it, kept in `localStorage` and so
//! shared by every tab of the shopper.
//!
//! - A visitor without an account gets a guest session (`POST /api/auth/guest`), which renews
//!   like an account's and keeps its subject, so the cart orbit survives every expiry.
//! - Renewal (`POST /api/auth/refresh`) happens shortly before expiry on a timer, when the tab
//!   becomes visible, gets focus, comes back online or wakes, and when a caller finds its token
//!   refused. Every path goes through [`renew_replacing`].
//! - Tabs agree: a renewal runs under the Web Lock [`LOCK_NAME`], and whoever holds it first
//!   looks whether another tab already renewed (then it takes that token). A refresh token is
//!   thus presented once, never twice (which the server would treat as theft).
//! - Each new token reaches [`on_change`] listeners, in this tab directly and in the other tabs
//!   through the `storage` event; the Gravity Well hands it to its worker's socket.
//! - A refresh token refused for good (revoked, expired) turns the page into a guest with a
//!   clear notice; the well keeps moving. A server that cannot be reached leaves the session as
//!   it is and retries with backoff.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::api::{ErrorBody, TokenPair};
use crate::dom::{document, window};

/// `localStorage` key of the access token.
pub const TOKEN_KEY: &str = "swiftcart.token";
/// `localStorage` key of its expiry (ms since the epoch).
const EXPIRY_KEY: &str = "swiftcart.tokenExpiresAt";
/// `localStorage` key of its lifetime in ms (the renewal margin is a share of it).
const LIFETIME_KEY: &str = "swiftcart.tokenLifetimeMs";
/// `localStorage` key of the refresh token.
const REFRESH_KEY: &str = "swiftcart.refreshToken";
/// The Web Lock every tab takes to renew.
pub const LOCK_NAME: &str = "swiftcart.session";
/// A token is renewed when this share of its lifetime is left…
const RENEW_SHARE: f64 = 0.25;
/// …or this many ms, whichever is less.
const MAX_RENEW_MARGIN_MS: f64 = 120_000.0;
/// A request to the auth API gives up after this long (the lock is not held forever).
const AUTH_TIMEOUT_MS: u32 = 10_000;
/// First retry delay after a renewal could not reach the server; doubles up to the maximum.
const FIRST_RETRY_MS: i32 = 1_000;
/// Longest retry delay.
const MAX_RETRY_MS: i32 = 30_000;
/// What the notice says when a session ended and the page became a guest.
const SESSION_ENDED: &str =
    "Your session ended, so you are browsing as a guest now. Sign in again to see your account's cart orbit.";
/// `data-testid` of the notice shown when a session ended and the page became a guest.
pub const NOTICE_TEST_ID: &str = "session-notice";

/// The session as stored.
#[derive(Clone, Debug, PartialEq)]
struct Stored {
    token: String,
    expires_at_ms: f64,
    lifetime_ms: f64,
    refresh_token: Option<String>,
}

/// When a token of this lifetime, expiring at `expires_at_ms`, is due for renewal.
pub fn renew_at_ms(expires_at_ms: f64, lifetime_ms: f64) -> f64 {
    expires_at_ms - (lifetime_ms * RENEW_SHARE).min(MAX_RENEW_MARGIN_MS)
}

impl Stored {
    fn due(&self, now_ms: f64) -> bool {
        now_ms >= renew_at_ms(self.expires_at_ms, self.lifetime_ms)
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn read() -> Option<Stored> {
    let storage = storage()?;
    let get = |key| storage.get_item(key).ok().flatten();
    Some(Stored {
        token: get(TOKEN_KEY)?,
        expires_at_ms: get(EXPIRY_KEY)?.parse().ok()?,
        lifetime_ms: get(LIFETIME_KEY).and_then(|l| l.parse().ok()).unwrap_or(900_000.0),
        refresh_token: get(REFRESH_KEY),
    })
}

/// Stores a token answer ([`TokenPair`]) and tells the listeners.
fn store_answer(answer: &JsValue) -> Result<String, String> {
    let TokenPair { token, refresh_token, expires_in } =
        decode(answer).map_err(|why| format!("an unexpected token answer ({why})"))?;
    let expires_in_ms = expires_in as f64 * 1000.0;
    let refresh_token = Some(refresh_token).filter(|r| !r.is_empty());
    let previous = read().map(|s| s.token);
    if let Some(storage) = storage() {
        let _ = storage.set_item(TOKEN_KEY, &token);
        let _ = storage.set_item(EXPIRY_KEY, &(crate::dom::epoch_ms() + expires_in_ms).to_string());
        let _ = storage.set_item(LIFETIME_KEY, &expires_in_ms.to_string());
        match &refresh_token {
            Some(refresh) => storage.set_item(REFRESH_KEY, refresh),
            None => storage.remove_item(REFRESH_KEY),
        }
        .ok();
    }
    changed(previous.as_deref(), &token);
    Ok(token)
}

/// A new access token, and whether it belongs to another subject than the one before (a
/// sign-in, or a revoked session that became a new guest) rather than renewing the same one.
#[derive(Clone, Debug)]
pub struct SessionChange {
    /// The new access token.
    pub token: String,
    /// `true` when the subject changed: a socket must reconnect rather than re-authenticate.
    pub new_subject: bool,
}

/// Something told about every new access token.
type Listener = Rc<dyn Fn(&SessionChange)>;

thread_local! {
    static LISTENERS: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
    static TIMER: Cell<Option<i32>> = const { Cell::new(None) };
    static RETRY_MS: Cell<i32> = const { Cell::new(FIRST_RETRY_MS) };
}

/// Calls `listener` with every new access token, whichever tab renewed it.
pub fn on_change(listener: impl Fn(&SessionChange) + 'static) {
    LISTENERS.with(|l| l.borrow_mut().push(Rc::new(listener)));
}

fn changed(previous: Option<&str>, token: &str) {
    let change = SessionChange { token: token.to_string(), new_subject: previous.and_then(subject) != subject(token) };
    let listeners: Vec<Listener> = LISTENERS.with(|l| l.borrow().clone());
    for listener in listeners {
        listener(&change);
    }
    schedule();
}

/// The `sub` claim of a JWT (read, not verified: the server verifies).
fn subject(token: &str) -> Option<String> {
    claims(token)?.sub
}

/// The `role` claim of a JWT (read, not verified).
fn role(token: &str) -> Option<String> {
    claims(token)?.role
}

/// What the page reads of a JWT's payload.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct PeekedClaims {
    sub: Option<String>,
    role: Option<String>,
}

/// A JWT's payload (read, not verified).
fn claims(token: &str) -> Option<PeekedClaims> {
    let payload = token.split('.').nth(1)?;
    let mut base64: String = payload
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !base64.len().is_multiple_of(4) {
        base64.push('=');
    }
    serde_json::from_str(&window().atob(&base64).ok()?).ok()
}

/// Starts the session's upkeep once per page: the renewal timer, renewal on visibility, focus,
/// network and wake, and the hand-over of tokens renewed by other tabs.
pub fn install() {
    if INSTALLED.with(|i| i.replace(true)) {
        return;
    }
    let wake = Closure::<dyn FnMut()>::new(|| {
        if document().visibility_state() == web_sys::VisibilityState::Visible {
            keep_fresh();
        }
    });
    for (target, event) in [
        (document().unchecked_into::<web_sys::EventTarget>(), "visibilitychange"),
        (window().unchecked_into(), "focus"),
        (window().unchecked_into(), "online"),
        (window().unchecked_into(), "pageshow"),
    ] {
        let _ = target.add_event_listener_with_callback(event, wake.as_ref().unchecked_ref());
    }
    wake.forget();
    let other_tab = Closure::<dyn FnMut(web_sys::StorageEvent)>::new(|event: web_sys::StorageEvent| {
        if event.key().as_deref() == Some(TOKEN_KEY) {
            if let Some(token) = event.new_value() {
                changed(event.old_value().as_deref(), &token);
            }
        }
    });
    let _ = window().add_event_listener_with_callback("storage", other_tab.as_ref().unchecked_ref());
    other_tab.forget();
    schedule();
}

/// Sets the timer for the next renewal (replacing the previous one).
fn schedule() {
    let Some(stored) = read() else { return };
    // Rounded up and a little late rather than early: an early timer would find nothing due.
    let delay = (renew_at_ms(stored.expires_at_ms, stored.lifetime_ms) - crate::dom::epoch_ms()).max(0.0).ceil() + 5.0;
    set_timer(delay.min(i32::MAX as f64) as i32);
}

fn set_timer(delay_ms: i32) {
    if let Some(old) = TIMER.with(|t| t.take()) {
        window().clear_timeout_with_handle(old);
    }
    let fire = Closure::once_into_js(|| {
        TIMER.with(|t| t.set(None));
        keep_fresh();
    });
    let handle = window().set_timeout_with_callback_and_timeout_and_arguments_0(fire.unchecked_ref(), delay_ms);
    TIMER.with(|t| t.set(handle.ok()));
}

/// Renews the token if it is due; when the server cannot be reached, tries again with backoff.
pub fn keep_fresh() {
    leptos::task::spawn_local(async {
        match access_token().await {
            Ok(_) => {
                RETRY_MS.with(|r| r.set(FIRST_RETRY_MS));
                schedule();
            }
            Err(_) => {
                let delay = RETRY_MS.with(|r| r.replace((r.get() * 2).min(MAX_RETRY_MS)));
                set_timer(delay);
            }
        }
    });
}

/// A valid access token: the stored one, renewed first when it is due (or a new guest session).
pub async fn access_token() -> Result<String, String> {
    match read() {
        Some(stored) if !stored.due(crate::dom::epoch_ms()) => Ok(stored.token),
        stored => renew_replacing(stored.map(|s| s.token)).await,
    }
}

/// Renews the session whose access token is `stale` (`None`: there is none yet), unless another
/// tab or caller already replaced it, in which case that newer token is the answer.
pub async fn renew_replacing(stale: Option<String>) -> Result<String, String> {
    with_lock(move || async move {
        let stored = read();
        if let Some(current) = &stored {
            if Some(&current.token) != stale.as_ref() && !current.due(crate::dom::epoch_ms()) {
                return Ok(current.token.clone());
            }
        }
        let signed_in = stored.as_ref().is_some_and(|s| is_account(&s.token));
        match stored.and_then(|s| s.refresh_token) {
            Some(refresh_token) => refresh(&refresh_token).await,
            None => {
                // No refresh token (none yet, or a token stored before sessions could renew).
                let token = new_guest().await?;
                if signed_in {
                    show_notice(SESSION_ENDED);
                }
                Ok(token)
            }
        }
    })
    .await
}

/// After the socket was refused or closed, perhaps for its token: asks the server whether the
/// session's token is still good (`GET /api/auth/session`) and renews it if not (a 401).
/// Network failures change nothing (the socket retries with backoff).
pub async fn recover_refused() -> Result<(), String> {
    let Some(stored) = read() else { return access_token().await.map(|_| ()) };
    let (status, _) = fetch_json("GET", "/api/auth/session", None, Some(&stored.token), &[]).await?;
    if status == 401 {
        renew_replacing(Some(stored.token)).await?;
    }
    Ok(())
}

async fn refresh(refresh_token: &str) -> Result<String, String> {
    let body = json_object(&[("refreshToken", refresh_token.into())])?;
    let (status, answer) = fetch_json("POST", "/api/auth/refresh", Some(&body), None, &[]).await?;
    match status {
        200 => store_answer(&answer),
        401 => {
            let token = new_guest().await?;
            show_notice(SESSION_ENDED);
            Ok(token)
        }
        other => Err(format!("the server answered {other}")),
    }
}

async fn new_guest() -> Result<String, String> {
    let (status, answer) = fetch_json("POST", "/api/auth/guest", None, None, &[]).await?;
    if status != 200 {
        return Err(format!("the server answered {status}"));
    }
    store_answer(&answer)
}

/// Runs `renewal` while holding the Web Lock [`LOCK_NAME`] (every tab of this origin shares it).
/// Without Web Locks (very old browsers) it runs unguarded.
async fn with_lock<F, Fut>(renewal: F) -> Result<String, String>
where
    F: FnOnce() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<String, String>> + 'static,
{
    let locks = js_sys::Reflect::get(&window().navigator(), &"locks".into()).unwrap_or(JsValue::UNDEFINED);
    let request =
        js_sys::Reflect::get(&locks, &"request".into()).ok().and_then(|r| r.dyn_into::<js_sys::Function>().ok());
    let Some(request) = request else { return renewal().await };
    let outcome: Rc<RefCell<Option<Result<String, String>>>> = Rc::default();
    let granted = {
        let outcome = outcome.clone();
        Closure::once(move |_lock: JsValue| -> JsValue {
            wasm_bindgen_futures::future_to_promise(async move {
                *outcome.borrow_mut() = Some(renewal().await);
                Ok(JsValue::UNDEFINED)
            })
            .into()
        })
    };
    let held = request.call2(&locks, &LOCK_NAME.into(), granted.as_ref()).map_err(|_| "the session lock failed")?;
    let _ = JsFuture::from(js_sys::Promise::resolve(&held)).await;
    drop(granted);
    outcome.take().unwrap_or_else(|| Err("the session lock failed".into()))
}

/// Shows (or updates) the notice that the session ended; it stays until dismissed.
fn show_notice(message: &str) {
    let document = document();
    let notice = match document.query_selector(&format!("[data-testid='{NOTICE_TEST_ID}']")).ok().flatten() {
        Some(existing) => existing,
        None => {
            let Ok(notice) = document.create_element("div") else { return };
            let _ = notice.set_attribute("data-testid", NOTICE_TEST_ID);
            let _ = notice.set_attribute("role", "status");
            let _ = notice.set_attribute("class", "session-notice");
            if let Some(body) = document.body() {
                let _ = body.append_child(&notice);
            }
            notice
        }
    };
    notice.set_text_content(Some(message));
    let dismiss = notice.clone();
    let on_click = Closure::once_into_js(move || dismiss.remove());
    let _ = notice.add_event_listener_with_callback("click", on_click.unchecked_ref());
}

/// One request to our own API; returns (status, parsed JSON body or `null`). Times out after
/// [`AUTH_TIMEOUT_MS`] as a network failure.
async fn fetch_json(
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Result<(u16, JsValue), String> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|_| "no headers")?;
    if let Some(token) = token {
        let _ = headers.set("Authorization", &format!("Bearer {token}"));
    }
    for (name, value) in extra_headers {
        let _ = headers.set(name, value);
    }
    if let Some(body) = body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    if let Some(signal) = timeout_signal(AUTH_TIMEOUT_MS) {
        let _ = js_sys::Reflect::set(&init, &"signal".into(), &signal);
    }
    let response = JsFuture::from(window().fetch_with_str_and_init(path, &init))
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

/// `AbortSignal.timeout(ms)`, where the browser has it.
fn timeout_signal(ms: u32) -> Option<JsValue> {
    let class = js_sys::Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok()?;
    let timeout = js_sys::Reflect::get(&class, &"timeout".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
    timeout.call1(&class, &ms.into()).ok()
}

/// A JSON request to our own API with the session's token; returns (status, parsed body). A 401
/// outside `/api/auth/` means the token died under us (a sleeping laptop): the session is renewed
/// and the request sent once more.
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
    let answer = fetch_json(method, path, body, Some(&token), extra_headers).await?;
    if answer.0 != 401 || path.starts_with("/api/auth/") {
        return Ok(answer);
    }
    let token = renew_replacing(Some(token)).await?;
    fetch_json(method, path, body, Some(&token), extra_headers).await
}

/// Signs in (`login`) or registers (`register`); the guest's cart orbit moves to the account.
/// On success the account's session replaces the guest's. Errors are the server's own words.
pub async fn sign_in(action: &str, email: &str, password: &str) -> Result<(), String> {
    let body = json_object(&[("email", email.into()), ("password", password.into())])?;
    let (status, json) = api("POST", &format!("/api/auth/{action}"), Some(&body)).await?;
    if status == 200 || status == 201 {
        store_answer(&json)?;
        return Ok(());
    }
    Err(server_words(&json).unwrap_or_else(|| format!("the server answered {status}")))
}

/// Whether this browser holds an account's session rather than a guest's.
pub fn holds_account() -> bool {
    read().is_some_and(|stored| is_account(&stored.token))
}

/// Whether `token` is an account's (its role is not `guest`).
fn is_account(token: &str) -> bool {
    role(token).is_some_and(|role| role != "guest")
}

/// Signs out: the server revokes the session (its refresh tokens and, at once, its access
/// tokens), and a new guest session replaces it, with an empty cart orbit. The guest session is
/// made even when the server could not be told, so the page never stays signed in by mistake.
pub async fn sign_out() -> Result<(), String> {
    let told = match read().and_then(|stored| stored.refresh_token) {
        Some(refresh_token) => {
            let body = json_object(&[("refreshToken", refresh_token.into())])?;
            match fetch_json("POST", "/api/auth/logout", Some(&body), None, &[]).await {
                Ok((204, _)) => Ok(()),
                Ok((status, _)) => Err(format!("the server answered {status}")),
                Err(why) => Err(why),
            }
        }
        None => Ok(()),
    };
    if let Some(storage) = storage() {
        let _ = storage.remove_item(REFRESH_KEY);
    }
    new_guest().await?;
    told
}

/// Reads a JSON answer into its typed shape.
pub fn decode<T: serde::de::DeserializeOwned>(json: &JsValue) -> Result<T, String> {
    let text = js_sys::JSON::stringify(json).ok().and_then(|t| t.as_string()).ok_or("not JSON")?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The server's own words for a refusal, or its status.
pub fn message_or(json: &JsValue, status: u16) -> String {
    server_words(json).unwrap_or_else(|| format!("The server answered {status}."))
}

/// The `message` of an error answer ([`ErrorBody`]), when it has one.
fn server_words(json: &JsValue) -> Option<String> {
    decode::<ErrorBody>(json).ok().map(|body| body.message).filter(|m| !m.is_empty())
}

/// A REST answer read into its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer<T> {
    /// A 2xx answer.
    Done(T),
    /// Any other status, with the server's error body (empty when it sent none).
    Refused(u16, ErrorBody),
}

/// The one typed way to call our REST API: [`api`] (the session's token, renewed on a 401), its
/// answer read into `T` on success and into [`ErrorBody`] otherwise. `Err` when the server
/// could not be reached or a success did not read as `T`.
pub async fn call<T: serde::de::DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Answer<T>, String> {
    let (status, json) = api(method, path, body).await?;
    if (200..300).contains(&status) {
        return decode(&json).map(Answer::Done).map_err(|why| format!("an unexpected answer from {path} ({why})"));
    }
    Ok(Answer::Refused(status, decode(&json).unwrap_or_default()))
}

/// A JSON object text from (field, value) pairs.
pub fn json_object(fields: &[(&str, JsValue)]) -> Result<String, String> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        let _ = js_sys::Reflect::set(&object, &(*name).into(), value);
    }
    js_sys::JSON::stringify(&object).ok().and_then(|s| s.as_string()).ok_or_else(|| "cannot encode the request".into())
}
