//! `/api/admin/products…`: catalog and stock management (role admin). PostgreSQL is changed
//! first; the product's live state is written to Redis at once, and every node's engine and
//! WebSocket hub pick the change up within a second (the catalog stamp, see
//! [`crate::engine::stock`]), so connected shoppers see it live.

use app::api::{AdminProduct, AdminProducts};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::error::{ApiError, ApiJson};
use crate::auth::{Principal, Role};
use crate::catalog::admin;
use crate::product_state;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/products", get(list).post(create))
        .route("/api/admin/products/{product_id}", patch(edit).delete(retire))
        .route("/api/admin/products/{product_id}/stock", put(set_stock))
}

/// Largest price accepted, in cents (ten million dollars).
const MAX_PRICE_CENTS: i64 = 1_000_000_000;
/// Largest stock count accepted.
const MAX_STOCK: i64 = 1_000_000;

/// Longest product description accepted, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// The caller, checked to be an admin before anything else of the request (its body included)
/// is read: 401 without a valid token, 403 for anyone but an admin.
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let who = Principal::from_request_parts(parts, state).await?;
        (who.role == Role::Admin)
            .then_some(Admin)
            .ok_or(ApiError::Forbidden("only an admin may manage the catalog and orders"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewProduct {
    slug: String,
    name: String,
    #[serde(default)]
    description: String,
    image_url: Option<String>,
    msrp_cents: i64,
    price_floor_cents: Option<i64>,
    base_mass: Option<f32>,
    #[serde(default)]
    stock_count: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProductEdit {
    name: Option<String>,
    description: Option<String>,
    image_url: Option<String>,
    msrp_cents: Option<i64>,
    price_floor_cents: Option<i64>,
    base_mass: Option<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StockBody {
    stock_count: i64,
}

/// `GET /api/admin/products`: the whole catalog, retired products included, in catalog order.
async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<AdminProducts>, ApiError> {
    Ok(Json(AdminProducts { products: admin::list(&state.pool).await? }))
}

async fn load(state: &AppState, id: Uuid) -> Result<AdminProduct, ApiError> {
    admin::get(&state.pool, id).await?.ok_or(ApiError::NotFound("no such product"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    (1..=200)
        .contains(&name.trim().chars().count())
        .then_some(())
        .ok_or_else(|| ApiError::Unprocessable("name must be 1 to 200 characters".into()))
}

fn check_price(field: &str, cents: i64) -> Result<(), ApiError> {
    (0..=MAX_PRICE_CENTS)
        .contains(&cents)
        .then_some(())
        .ok_or_else(|| ApiError::Unprocessable(format!("{field} must be whole cents from 0 to {MAX_PRICE_CENTS}")))
}

fn check_mass(mass: f32) -> Result<(), ApiError> {
    (mass > 0.0 && mass <= 100.0)
        .then_some(())
        .ok_or_else(|| ApiError::Unprocessable("baseMass must be above 0 and at most 100".into()))
}

/// A same-site path: one leading `/` (never `//` or `/\`, which browsers read as another host),
/// no scheme, no `..`, and only the characters of a plain file path.
fn check_image(url: &str) -> Result<(), ApiError> {
    let plain = url.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    (url.starts_with('/') && !url.starts_with("//") && plain && url.len() <= 300 && !url.contains(".."))
        .then_some(())
        .ok_or_else(|| ApiError::Unprocessable("imageUrl must be a path on this site, such as /products/x.svg".into()))
}

fn check_description(description: &str) -> Result<(), ApiError> {
    (description.trim().chars().count() <= MAX_DESCRIPTION_CHARS).then_some(()).ok_or_else(|| {
        ApiError::Unprocessable(format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"))
    })
}

/// Writes the live state of new products to Redis now, rather than at the engine's next reload.
async fn publish(state: &AppState) {
    if let Err(e) = product_state::cold_boot(&state.pool, &state.redis).await {
        tracing::warn!(error = %e, "admin: product state not written to Redis yet; the engine writes it on reload");
    }
}

async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<NewProduct>,
) -> Result<impl IntoResponse, ApiError> {
    check_name(&body.name)?;
    check_description(&body.description)?;
    check_price("msrpCents", body.msrp_cents)?;
    if body.msrp_cents == 0 {
        return Err(ApiError::Unprocessable("msrpCents must be above 0".into()));
    }
    let floor = body.price_floor_cents.unwrap_or(body.msrp_cents / 2);
    check_price("priceFloorCents", floor)?;
    let mass = body.base_mass.unwrap_or(1.0);
    check_mass(mass)?;
    let image = body.image_url.unwrap_or_else(|| "/favicon.svg".into());
    check_image(&image)?;
    if !(0..=MAX_STOCK).contains(&body.stock_count) {
        return Err(ApiError::Unprocessable(format!("stockCount must be from 0 to {MAX_STOCK}")));
    }
    let id = admin::create(
        &state.pool,
        &admin::NewProduct {
            slug: body.slug.trim(),
            name: body.name.trim(),
            description: body.description.trim(),
            image_path: &image,
            msrp_cents: body.msrp_cents,
            price_floor_cents: floor,
            base_mass: mass,
            stock_count: body.stock_count as i32,
        },
    )
    .await?;
    publish(&state).await;
    tracing::info!(product = %id, slug = %body.slug.trim(), "admin: product created");
    Ok((StatusCode::CREATED, Json(load(&state, id).await?)))
}

async fn edit(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<ProductEdit>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    if let Some(cents) = body.msrp_cents {
        check_price("msrpCents", cents)?;
    }
    if let Some(cents) = body.price_floor_cents {
        check_price("priceFloorCents", cents)?;
    }
    if let Some(mass) = body.base_mass {
        check_mass(mass)?;
    }
    if let Some(image) = &body.image_url {
        check_image(image)?;
    }
    let changes = admin::ProductChanges {
        name: body.name.as_deref().map(str::trim),
        description: body.description.as_deref().map(str::trim),
        image_path: body.image_url.as_deref(),
        msrp_cents: body.msrp_cents,
        price_floor_cents: body.price_floor_cents,
        base_mass: body.base_mass,
    };
    if !admin::change(&state.pool, id, &changes).await? {
        return Err(ApiError::NotFound("no such product"));
    }
    Ok(Json(load(&state, id).await?))
}

async fn retire(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    if !admin::retire(&state.pool, id).await? {
        return Err(ApiError::NotFound("no such product"));
    }
    tracing::info!(product = %id, "admin: product retired");
    Ok(Json(load(&state, id).await?))
}

async fn set_stock(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<StockBody>,
) -> Result<impl IntoResponse, ApiError> {
    if !(0..=MAX_STOCK).contains(&body.stock_count) {
        return Err(ApiError::Unprocessable(format!("stockCount must be from 0 to {MAX_STOCK}")));
    }
    let product = load(&state, id).await?;
    if !admin::set_stock(&state.pool, id, body.stock_count as i32).await? {
        return Err(ApiError::Unprocessable(format!(
            "{} units are reserved by open checkouts; stockCount cannot go below that",
            product.reserved_count
        )));
    }
    Ok(Json(load(&state, id).await?))
}
