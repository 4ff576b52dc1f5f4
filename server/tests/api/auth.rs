//! `/api/auth/*`: guest tokens, accounts, refresh rotation, the admin subcommand's function.

use serde_json::{json, Value};
use swiftcart::auth::Role;

use crate::helpers::spawn_app;

#[tokio::test]
async fn accounts_tokens_and_refresh_rotation() {
    let app = spawn_app().await;

    let guest: Value = app.post_json("/api/auth/guest", None, json!({})).await.json().await.unwrap();
    assert_eq!(guest["expiresIn"], 900);
    let claims = app.tokens.verify(guest["token"].as_str().unwrap()).unwrap();
    assert_eq!((claims.role, claims.iss.as_str(), claims.aud.as_str()), (Role::Guest, "swiftcart", "swiftcart.web"));

    let creds = json!({"email": "Ana@Example.com", "password": "orbiting 42 carts"});
    let registered = app.post_json("/api/auth/register", None, creds.clone()).await;
    assert_eq!(registered.status(), 201);
    let pair: Value = registered.json().await.unwrap();
    assert_eq!(app.tokens.verify(pair["token"].as_str().unwrap()).unwrap().role, Role::Shopper);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(&app.pool).await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "passwords are stored as argon2id hashes");

    let again = app
        .post_json("/api/auth/register", None, json!({"email": "ana@example.com", "password": "another 42 pw"}))
        .await;
    assert_eq!(again.status(), 409);
    for bad in [
        json!({"email": "not-an-email", "password": "orbiting 42 carts"}),
        json!({"email": "b@example.com", "password": "short"}),
    ] {
        let response = app.post_json("/api/auth/register", None, bad).await;
        assert_eq!(response.status(), 422);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "ERR_INVALID");
    }
    let malformed = app
        .http
        .post(format!("{}/api/auth/register", app.address))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"], "ERR_BAD_REQUEST");

    let login = app.post_json("/api/auth/login", None, creds.clone()).await;
    assert_eq!(login.status(), 200);
    let wrong_password =
        app.post_json("/api/auth/login", None, json!({"email": "ana@example.com", "password": "wrong 42 carts"})).await;
    let unknown_email =
        app.post_json("/api/auth/login", None, json!({"email": "zed@example.com", "password": "wrong 42 carts"})).await;
    assert_eq!(
        (wrong_password.status(), unknown_email.status()),
        (reqwest::StatusCode::UNAUTHORIZED, reqwest::StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        wrong_password.text().await.unwrap(),
        unknown_email.text().await.unwrap(),
        "no hint whether the email exists"
    );

    // Rotation: each refresh token works once; presenting one the family has moved past (a
    // thief's replay) revokes the whole family.
    let first = pair["refreshToken"].as_str().unwrap().to_string();
    let rotated: Value =
        app.post_json("/api/auth/refresh", None, json!({"refreshToken": first})).await.json().await.unwrap();
    let second = rotated["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(app.tokens.verify(rotated["token"].as_str().unwrap()).unwrap().sub, claims_sub(&app, &pair));
    let (status, third) = app.refresh(&second).await;
    assert_eq!(status, 200);
    assert_eq!(app.session_status(third["token"].as_str().unwrap()).await, 200);
    assert_eq!(app.refresh(&first).await.0, 401, "reuse refused");
    assert_eq!(app.refresh(third["refreshToken"].as_str().unwrap()).await.0, 401, "family revoked after reuse");
    assert_eq!(app.session_status(third["token"].as_str().unwrap()).await, 401, "its access tokens end too");
    assert_eq!(app.post_json("/api/auth/refresh", None, json!({"refreshToken": "made-up"})).await.status(), 401);
    let stored_tokens: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens").fetch_all(&app.pool).await.unwrap();
    assert!(stored_tokens.iter().all(|h| h.len() == 32 && *h != first.as_bytes()), "only hashes are stored");

    // The admin subcommand's function: an admin signs in with role admin.
    swiftcart::auth::users::upsert_admin(&app.pool, "root@example.com", "admin pass 99").await.unwrap();
    let (_, admin) = app.sign_in("/api/auth/login", None, "root@example.com", "admin pass 99").await;
    assert_eq!(app.tokens.verify(&admin).unwrap().role, Role::Admin);
    app.cleanup().await;
}

fn claims_sub(app: &crate::helpers::TestApp, pair: &Value) -> String {
    app.tokens.verify(pair["token"].as_str().unwrap()).unwrap().sub
}

#[tokio::test]
async fn a_guest_renews_keeping_its_subject_and_cart_orbit() {
    let app = spawn_app().await;
    let product = app.product_ids().await[3];
    let guest = app.guest_session().await;
    let token = guest["token"].as_str().unwrap();
    let sub = app.tokens.verify(token).unwrap().sub;
    app.put_cart(token, product, 2).await;

    let first = guest["refreshToken"].as_str().expect("guests get a refresh token").to_string();
    let (status, renewed) = app.refresh(&first).await;
    assert_eq!(status, 200, "{renewed}");
    let fresh = renewed["token"].as_str().unwrap();
    let claims = app.tokens.verify(fresh).unwrap();
    assert_eq!((claims.sub.as_str(), claims.role), (sub.as_str(), Role::Guest), "same subject, still a guest");
    assert_eq!(renewed["expiresIn"], 900);
    assert_eq!(app.cart(fresh).await, vec![(product.to_string(), 2)], "the cart orbit comes along");

    // The same rules as an account's: a rotated token is spent, and reusing it after the family
    // moved on ends the family.
    let second = renewed["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let (_, third) = app.refresh(&second).await;
    assert_eq!(app.refresh(&first).await.0, 401, "reuse refused");
    assert_eq!(app.refresh(third["refreshToken"].as_str().unwrap()).await.0, 401, "family revoked after reuse");
    assert_eq!(app.session_status(fresh).await, 401, "the session's access tokens end too");
    let (outside, _) = app.tokens.issue(&sub, Role::Guest);
    assert_eq!(app.cart(&outside).await.len(), 1, "revoking the session leaves the cart alone");
    app.cleanup().await;
}

/// A renewal whose answer never arrived (a tab closed mid-request, a dropped connection) or that
/// another tab had not seen yet is not theft: presented again within the grace, the token gets
/// another successor, and the first one stays good (some tab may hold it). After the grace, or
/// once the family moved on, the same replay revokes the family.
#[tokio::test]
async fn a_lost_renewal_answer_is_answered_again_within_the_grace_and_theft_after_it() {
    let app = spawn_app().await;
    let guest = app.guest_session().await;
    let sub = app.tokens.verify(guest["token"].as_str().unwrap()).unwrap().sub;
    let first = guest["refreshToken"].as_str().unwrap().to_string();

    let (status, lost) = app.refresh(&first).await;
    assert_eq!(status, 200);
    let (status, retried) = app.refresh(&first).await;
    assert_eq!(status, 200, "a retry within the grace is answered: {retried}");
    assert_eq!(app.tokens.verify(retried["token"].as_str().unwrap()).unwrap().sub, sub, "the same guest");
    let kept = retried["refreshToken"].as_str().unwrap().to_string();
    let seen_elsewhere = lost["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(kept, seen_elsewhere);
    assert_eq!(app.session_status(lost["token"].as_str().unwrap()).await, 200, "both answers' tokens are good");

    // The same retry once the grace has passed is a replay: the family ends, every branch of it.
    sqlx::query("UPDATE refresh_tokens SET used_at = used_at - make_interval(secs => $1) WHERE guest_sub = $2")
        .bind(swiftcart::auth::refresh::REUSE_GRACE_SECS + 1.0)
        .bind(&sub)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.refresh(&first).await.0, 401, "replayed after the grace");
    assert_eq!(app.refresh(&kept).await.0, 401, "family revoked");
    assert_eq!(app.refresh(&seen_elsewhere).await.0, 401, "the other branch too");
    assert_eq!(app.session_status(retried["token"].as_str().unwrap()).await, 401, "and its access tokens");
    app.cleanup().await;
}

#[tokio::test]
async fn bad_refresh_tokens_get_401_and_change_nothing() {
    let app = spawn_app().await;
    let guest = app.guest_session().await;
    let good = guest["refreshToken"].as_str().unwrap().to_string();
    let mut tampered = good.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let access_token = guest["token"].as_str().unwrap().to_string();
    for bad in [tampered.as_str(), "", access_token.as_str(), "x".repeat(5000).as_str()] {
        let (status, body) = app.refresh(bad).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("ERR_UNAUTHORIZED")), "{bad:.20}");
    }
    for malformed in [json!({}), json!({"refreshToken": 7}), json!("refreshToken")] {
        let status = app.post_json("/api/auth/refresh", None, malformed).await.status().as_u16();
        assert!(status == 400 || status == 422, "{status}");
    }
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(used, 0, "no token was spent or revoked by bad attempts");
    assert_eq!(app.refresh(&good).await.0, 200, "the real token still works");
    app.cleanup().await;
}

#[tokio::test]
async fn signing_in_ends_the_guest_session_and_keeps_the_shopper_on_renewal() {
    let app = spawn_app().await;
    let product = app.product_ids().await[1];
    let guest = app.guest_session().await;
    let guest_token = guest["token"].as_str().unwrap();
    app.put_cart(guest_token, product, 1).await;
    let creds = json!({"email": "renew@example.com", "password": "orbiting 42 carts"});
    let pair: Value = app.post_json("/api/auth/register", Some(guest_token), creds).await.json().await.unwrap();
    assert_eq!(app.refresh(guest["refreshToken"].as_str().unwrap()).await.0, 401, "the guest session ended");

    let (status, renewed) = app.refresh(pair["refreshToken"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let claims = app.tokens.verify(renewed["token"].as_str().unwrap()).unwrap();
    assert_eq!((claims.sub, claims.role), (claims_sub(&app, &pair), Role::Shopper), "still signed in");
    assert_eq!(app.cart(renewed["token"].as_str().unwrap()).await, vec![(product.to_string(), 1)]);
    app.cleanup().await;
}

#[tokio::test]
async fn the_session_probe_tells_a_good_token_from_a_dead_one() {
    let app = spawn_app().await;
    let token = app.guest_token().await;
    let probe = |token: String| {
        let request = app.http.get(format!("{}/api/auth/session", app.address)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let good = probe(token.clone()).await;
    assert_eq!(good.status(), 200);
    let body: Value = good.json().await.unwrap();
    assert_eq!(body["role"], "guest");
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at.timestamp() as u64, app.tokens.verify(&token).unwrap().exp);

    let claims = app.tokens.verify(&token).unwrap();
    let now = swiftcart::clock::unix_now();
    let expired = app.tokens.sign(&swiftcart::auth::Claims { exp: now - 1, ..claims });
    assert_eq!(probe(expired).await.status(), 401);
    assert_eq!(app.get("/api/auth/session").await.status(), 401, "no token");
    app.cleanup().await;
}

#[tokio::test]
async fn logging_out_ends_the_session_for_good() {
    let app = spawn_app().await;
    let creds = json!({"email": "leave@example.com", "password": "orbiting 42 carts"});
    let pair: Value = app.post_json("/api/auth/register", None, creds).await.json().await.unwrap();
    let first = pair["refreshToken"].as_str().unwrap().to_string();
    let (_, renewed) = app.refresh(&first).await;
    let current = renewed["refreshToken"].as_str().unwrap().to_string();
    let access = renewed["token"].as_str().unwrap().to_string();
    let elsewhere: Value = app
        .post_json("/api/auth/login", None, json!({"email": "leave@example.com", "password": "orbiting 42 carts"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.session_status(&access).await, 200);
    // Logging out with the spent token still names the family: the live one stops too, and so
    // does the session's access token, long before it expires.
    let out = app.post_json("/api/auth/logout", None, json!({"refreshToken": first})).await;
    assert_eq!(out.status(), 204);
    assert_eq!(app.refresh(&current).await.0, 401, "signed out");
    assert_eq!(app.session_status(&access).await, 401, "the access token ended with its session");
    let cart = app.http.get(format!("{}/api/cart", app.address)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(cart.status(), 401, "and every route refuses it");
    let other = elsewhere["token"].as_str().unwrap();
    assert_eq!(app.session_status(other).await, 200, "the account's other session (another device) goes on");
    let unknown = app.post_json("/api/auth/logout", None, json!({"refreshToken": "never-issued"})).await;
    assert_eq!(unknown.status(), 204, "the same answer for an unknown token");
    app.cleanup().await;
}
