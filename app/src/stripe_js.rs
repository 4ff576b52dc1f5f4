//! Stripe.js in the page: loading it, the card element, turning the card into a payment method,
//! and the bank's check (3-D Secure). The decisions (which Stripe.js call to trust, when to fall
//! back) are plain functions over [`CardAnswer`], tested natively; the calls themselves run in
//! the browser only.
//!
//! Two Stripe.js builds are met: Stripe's own (`https://js.stripe.com/v3/`, production), which has
//! `createPaymentMethod` and `handleNextAction`, and localstripe's (development and tests), whose
//! `createPaymentMethod` does nothing and which runs authentication in `confirmCardPayment`.

/// What one Stripe.js call answered about the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardAnswer {
    /// An id Stripe made (`pm_…`, or `card_…` from a token).
    Made(String),
    /// Stripe refused the card, in its own words ("Your card number is incomplete.").
    Refused(String),
    /// No id and no error: the call is not implemented by this Stripe.js, or is missing.
    Silent,
}

/// A Stripe.js answer (`createPaymentMethod`, `createToken`, `confirmCardPayment`,
/// `handleNextAction`), as far as the page reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StripeAnswer {
    /// `createPaymentMethod`'s PaymentMethod.
    pub payment_method: Option<StripeObject>,
    /// `createToken`'s token.
    pub token: Option<StripeToken>,
    /// Stripe's refusal.
    pub error: Option<StripeError>,
}

/// Anything Stripe made, by its id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct StripeObject {
    /// `pm_…`, `card_…`.
    pub id: String,
}

/// A card token: the card it stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct StripeToken {
    /// The card, usable as a payment method.
    pub card: Option<StripeObject>,
}

/// Stripe's words for a refusal.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct StripeError {
    /// "Your card number is incomplete.", …
    pub message: Option<String>,
}

impl StripeAnswer {
    /// Stripe's refusal in its words, if it refused.
    pub fn refusal(&self) -> Option<String> {
        self.error.as_ref().and_then(|e| e.message.clone())
    }

    /// What `made` finds in the answer, else Stripe's refusal, else silence.
    pub fn card_answer(self, made: impl FnOnce(&Self) -> Option<String>) -> CardAnswer {
        match (made(&self).filter(|id| !id.is_empty()), self.refusal()) {
            (Some(id), _) => CardAnswer::Made(id),
            (None, Some(words)) => CardAnswer::Refused(words),
            (None, None) => CardAnswer::Silent,
        }
    }

    /// `createPaymentMethod`'s PaymentMethod id.
    pub fn payment_method_id(&self) -> Option<String> {
        self.payment_method.as_ref().map(|m| m.id.clone())
    }

    /// `createToken`'s card id.
    pub fn token_card_id(&self) -> Option<String> {
        self.token.as_ref().and_then(|t| t.card.as_ref()).map(|c| c.id.clone())
    }
}

/// What to do after `createPaymentMethod` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterPaymentMethod {
    /// Pay with this PaymentMethod id.
    Pay(String),
    /// Show Stripe's words; the shopper corrects the card.
    Show(String),
    /// This Stripe.js makes no PaymentMethods (localstripe's): tokenize the card instead.
    Tokenize,
}

/// `createPaymentMethod` decides whenever it answers; only silence (localstripe) falls back to
/// `createToken`, so with Stripe's own Stripe.js a refused card is never retried as a token.
pub fn after_payment_method(answer: CardAnswer) -> AfterPaymentMethod {
    match answer {
        CardAnswer::Made(id) => AfterPaymentMethod::Pay(id),
        CardAnswer::Refused(words) => AfterPaymentMethod::Show(words),
        CardAnswer::Silent => AfterPaymentMethod::Tokenize,
    }
}

/// The payment method of a `createToken` answer: the token's card id.
pub fn after_token(answer: CardAnswer) -> Result<String, String> {
    match answer {
        CardAnswer::Made(id) => Ok(id),
        CardAnswer::Refused(words) => Err(words),
        CardAnswer::Silent => Err("The card was not accepted; check its number, expiry and CVC.".into()),
    }
}

/// Which Stripe.js call runs the bank's check for an intent that `requires_action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankCheck {
    /// `stripe.handleNextAction({clientSecret})`: Stripe's own, for intents confirmed on the server.
    HandleNextAction,
    /// `stripe.confirmCardPayment(clientSecret)`: localstripe's, which shows its own
    /// "Complete authentication" / "Fail authentication" choice.
    ConfirmCardPayment,
}

/// [`BankCheck::HandleNextAction`] when this Stripe.js has it, else `confirmCardPayment`.
pub fn bank_check(has_handle_next_action: bool) -> BankCheck {
    if has_handle_next_action {
        BankCheck::HandleNextAction
    } else {
        BankCheck::ConfirmCardPayment
    }
}

#[cfg(feature = "hydrate")]
pub use browser::*;

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Function, Object, Promise, Reflect};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::HtmlElement;

    use super::{
        after_payment_method, after_token, bank_check, AfterPaymentMethod, BankCheck, CardAnswer, StripeAnswer,
    };
    use crate::checkout::get_stripe_settings;
    use crate::dom::{document, window};
    use crate::session::decode;

    /// Stripe.js and the card element mounted in the warp.
    pub struct CardEntry {
        stripe: JsValue,
        card: JsValue,
        /// The frame localstripe's Stripe.js runs in (none for Stripe's own).
        frame: Option<web_sys::HtmlIFrameElement>,
    }

    impl CardEntry {
        /// Destroys the card element: no card data stays in the page.
        pub fn destroy(self) {
            let _ = call(&self.card, "destroy", &[]);
        }

        /// What Stripe.js makes of the card: a PaymentMethod (`createPaymentMethod`), or, where that
        /// is silent (localstripe's Stripe.js), the card of a token (`createToken`), which Stripe
        /// accepts as a payment method too. Stripe's own words are returned when it refuses.
        pub async fn payment_method_id(&self) -> Result<String, String> {
            let request = Object::new();
            let _ = Reflect::set(&request, &"type".into(), &"card".into());
            let _ = Reflect::set(&request, &"card".into(), &self.card);
            let made = match call(&self.stripe, "createPaymentMethod", &[request.into()]) {
                Ok(pending) => read_answer(&settle(pending).await?).card_answer(StripeAnswer::payment_method_id),
                Err(_) => CardAnswer::Silent,
            };
            match after_payment_method(made) {
                AfterPaymentMethod::Pay(id) => Ok(id),
                AfterPaymentMethod::Show(words) => Err(words),
                AfterPaymentMethod::Tokenize => {
                    let tokenized = settle(call(&self.stripe, "createToken", std::slice::from_ref(&self.card))?)
                        .await
                        .map_err(|_| "Enter the card number, expiry and CVC.".to_string())?;
                    after_token(read_answer(&tokenized).card_answer(StripeAnswer::token_card_id))
                }
            }
        }

        /// Runs the bank's check (3-D Secure) for the intent behind `client_secret`. The outcome is
        /// only a hint for the page's words: the server settles the order from Stripe. The frame
        /// of localstripe's Stripe.js grows meanwhile, so its choice can be seen and clicked.
        pub async fn run_bank_check(&self, client_secret: &str) -> Result<(), String> {
            let has_next_action = Reflect::get(&self.stripe, &"handleNextAction".into()).is_ok_and(|f| f.is_function());
            let pending = match bank_check(has_next_action) {
                BankCheck::HandleNextAction => {
                    let options = Object::new();
                    let _ = Reflect::set(&options, &"clientSecret".into(), &client_secret.into());
                    call(&self.stripe, "handleNextAction", &[options.into()])?
                }
                BankCheck::ConfirmCardPayment => call(&self.stripe, "confirmCardPayment", &[client_secret.into()])?,
            };
            self.set_frame_class("card-frame authenticating");
            let answer = settle(pending).await;
            self.set_frame_class("card-frame");
            match read_answer(&answer?).refusal() {
                Some(words) => Err(words),
                None => Ok(()),
            }
        }

        fn set_frame_class(&self, class: &str) {
            if let Some(frame) = &self.frame {
                frame.set_class_name(class);
            }
        }
    }

    /// A Stripe.js answer read into its type (an answer that is not an object reads as silence).
    fn read_answer(answer: &JsValue) -> StripeAnswer {
        decode(answer).unwrap_or_default()
    }

    /// Calls `target[name](...args)`. (Typed by `typeof`, not `instanceof`: the target may come
    /// from the card frame's realm.)
    fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, String> {
        let method = Reflect::get(target, &name.into())
            .ok()
            .filter(|m| m.is_function())
            .map(|m| m.unchecked_into::<Function>())
            .ok_or(format!("no {name}()"))?;
        method.apply(target, &args.iter().collect()).map_err(|e| describe(&e))
    }

    /// Awaits a value that may be a promise (of this realm or the card frame's).
    async fn settle(value: JsValue) -> Result<JsValue, String> {
        JsFuture::from(Promise::resolve(&value)).await.map_err(|e| describe(&e))
    }

    fn describe(error: &JsValue) -> String {
        // A thrown `Error` (perhaps of the card frame's realm): its `message` property.
        Reflect::get(error, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "unknown error".into())
    }

    /// Stripe's own Stripe.js is loaded into the page, as Stripe requires; any other (localstripe's
    /// in development) runs in a frame of its own inside the card entry, because localstripe's
    /// declares a global `Element` class that would shadow the DOM's for the whole page (and break
    /// every `instanceof Element` check, the router's included).
    fn runs_in_page(js_url: &str) -> bool {
        js_url.starts_with("https://js.stripe.com/")
    }

    /// Loads Stripe.js (from this server's settings) and mounts a card element in `target`.
    pub async fn mount_card(target: &HtmlElement) -> Result<CardEntry, String> {
        let settings = get_stripe_settings().await.map_err(|e| e.to_string())?;
        target.set_inner_html("");
        let (realm, mount_at, frame): (JsValue, JsValue, _) = if runs_in_page(&settings.js_url) {
            if Reflect::get(&window(), &"Stripe".into()).map(|s| s.is_undefined()).unwrap_or(true) {
                load_script(&document(), &settings.js_url).await?;
            }
            (window().into(), target.into(), None)
        } else {
            let (realm, body, frame) = card_frame(target, &settings.js_url).await?;
            (realm, body, Some(frame))
        };
        let constructor = Reflect::get(&realm, &"Stripe".into())
            .ok()
            .filter(|s| s.is_function())
            .map(|s| s.unchecked_into::<Function>())
            .ok_or("Stripe.js did not load")?;
        let stripe = constructor.call1(&JsValue::NULL, &settings.publishable_key.into()).map_err(|e| describe(&e))?;
        let elements = call(&stripe, "elements", &[])?;
        let card = call(&elements, "create", &["card".into()])?;
        call(&card, "mount", &[mount_at])?;
        Ok(CardEntry { stripe, card, frame })
    }

    /// Styles of the card frame's inputs (the page's styles do not reach into the frame).
    const CARD_FRAME_STYLE: &str = "body{margin:0;font:14px system-ui,sans-serif;color:#e2e8f0}\
        span{display:none}input{box-sizing:border-box;margin:0 4px 4px 0;padding:6px;border-radius:6px;\
        border:1px solid #475569;background:#0b1024;color:inherit;width:70px}\
        input[placeholder=number]{width:100%}";

    /// A frame in the card entry with the Stripe.js at `js_url` loaded into it; returns the frame's
    /// window (where `Stripe` lives), the element to mount the card in, and the frame.
    async fn card_frame(
        target: &HtmlElement,
        js_url: &str,
    ) -> Result<(JsValue, JsValue, web_sys::HtmlIFrameElement), String> {
        let frame: web_sys::HtmlIFrameElement =
            document().create_element("iframe").map_err(|e| describe(&e))?.unchecked_into();
        frame.set_title("Card details");
        frame.set_class_name("card-frame");
        target.append_child(&frame).map_err(|e| describe(&e))?;
        let inner = frame.content_document().ok_or("the card frame has no document")?;
        let style = inner.create_element("style").map_err(|e| describe(&e))?;
        style.set_text_content(Some(CARD_FRAME_STYLE));
        inner.head().ok_or("the card frame has no head")?.append_child(&style).map_err(|e| describe(&e))?;
        load_script(&inner, js_url).await?;
        let realm: JsValue = frame.content_window().ok_or("the card frame has no window")?.into();
        let body: JsValue = inner.body().ok_or("the card frame has no body")?.into();
        Ok((realm, body, frame))
    }

    /// Adds a script to `doc` and waits for it to run.
    async fn load_script(doc: &web_sys::Document, url: &str) -> Result<(), String> {
        // Created by `doc`, so possibly of another realm: typed without `instanceof`.
        let script: HtmlElement = doc.create_element("script").map_err(|e| describe(&e))?.unchecked_into();
        let _ = script.set_attribute("src", url);
        let loaded = Promise::new(&mut |resolve, reject| {
            script.set_onload(Some(&resolve));
            script.set_onerror(Some(&reject));
        });
        doc.head().ok_or("no document head")?.append_child(&script).map_err(|e| describe(&e))?;
        JsFuture::from(loaded).await.map(|_| ()).map_err(|_| format!("{url} did not load"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_answers_read_into_made_refused_or_silent() {
        let read = |json: serde_json::Value| serde_json::from_value::<StripeAnswer>(json).unwrap();
        let made = read(serde_json::json!({"paymentMethod": {"id": "pm_1", "type": "card"}}));
        assert_eq!(made.card_answer(StripeAnswer::payment_method_id), CardAnswer::Made("pm_1".into()));
        let token = read(serde_json::json!({"token": {"id": "tok_1", "card": {"id": "card_1"}}}));
        assert_eq!(token.card_answer(StripeAnswer::token_card_id), CardAnswer::Made("card_1".into()));
        let refused =
            read(serde_json::json!({"error": {"message": "Your card was declined.", "code": "card_declined"}}));
        assert_eq!(
            refused.clone().card_answer(StripeAnswer::payment_method_id),
            CardAnswer::Refused("Your card was declined.".into())
        );
        assert_eq!(refused.refusal().as_deref(), Some("Your card was declined."));
        assert_eq!(read(serde_json::json!({})).card_answer(StripeAnswer::payment_method_id), CardAnswer::Silent);
    }

    #[test]
    fn stripes_own_payment_method_is_used_and_its_refusal_shown() {
        assert_eq!(after_payment_method(CardAnswer::Made("pm_1".into())), AfterPaymentMethod::Pay("pm_1".into()));
        assert_eq!(
            after_payment_method(CardAnswer::Refused("Your card number is incomplete.".into())),
            AfterPaymentMethod::Show("Your card number is incomplete.".into()),
            "a refusal is never retried as a token"
        );
    }

    #[test]
    fn a_silent_create_payment_method_falls_back_to_the_tokens_card() {
        assert_eq!(after_payment_method(CardAnswer::Silent), AfterPaymentMethod::Tokenize);
        assert_eq!(after_token(CardAnswer::Made("card_1".into())), Ok("card_1".into()));
        assert_eq!(
            after_token(CardAnswer::Refused("Your card was declined.".into())),
            Err("Your card was declined.".into())
        );
        assert!(after_token(CardAnswer::Silent).is_err());
    }

    #[test]
    fn the_bank_check_uses_handle_next_action_where_stripe_js_has_it() {
        assert_eq!(bank_check(true), BankCheck::HandleNextAction);
        assert_eq!(bank_check(false), BankCheck::ConfirmCardPayment);
    }
}
