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

    // Rotation: each refresh token works once; presenting a used one revokes the whole family.
    let first = pair["refreshToken"].as_str().unwrap().to_string();
    let rotated: Value =
        app.post_json("/api/auth/refresh", None, json!({"refreshToken": first})).await.json().await.unwrap();
    let second = rotated["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(app.tokens.verify(rotated["token"].as_str().unwrap()).unwrap().sub, claims_sub(&app, &pair));
    assert_eq!(
        app.post_json("/api/auth/refresh", None, json!({"refreshToken": first})).await.status(),
        401,
        "reuse refused"
    );
    assert_eq!(
        app.post_json("/api/auth/refresh", None, json!({"refreshToken": second})).await.status(),
        401,
        "family revoked after reuse"
    );
    assert_eq!(app.post_json("/api/auth/refresh", None, json!({"refreshToken": "made-up"})).await.status(), 401);
    let stored_tokens: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens").fetch_all(&app.pool).await.unwrap();
    assert!(stored_tokens.iter().all(|h| h.len() == 32 && *h != first.as_bytes()), "only hashes are stored");

    // The admin subcommand's function: an admin signs in with role admin.
    swiftcart::auth::users::upsert_admin(&app.pool, "root@example.com", "admin pass 99").await.unwrap();
    let admin: Value = app
        .post_json("/api/auth/login", None, json!({"email": "root@example.com", "password": "admin pass 99"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.tokens.verify(admin["token"].as_str().unwrap()).unwrap().role, Role::Admin);
    app.cleanup().await;
}

fn claims_sub(app: &crate::helpers::TestApp, pair: &Value) -> String {
    app.tokens.verify(pair["token"].as_str().unwrap()).unwrap().sub
}
