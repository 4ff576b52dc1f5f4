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

/// A product as the admin API answers it.
/// A row of [`SELECT_ADMIN`].
#[derive(sqlx::FromRow)]
struct AdminRow {
    product_id: Uuid,
    slug: String,
    name: String,
    description: String,
    image_url: String,
    msrp_cents: i64,
    price_floor_cents: i64,
    base_mass: f32,
    stock_count: i32,
    reserved_count: i32,
    retired: bool,
}

/// Every product as the admin sees it: stock, reservations, retired or not.
const SELECT_ADMIN: &str = "SELECT p.id AS product_id, p.slug, p.name, p.description, p.image_path AS image_url,
        p.msrp_cents, p.price_floor_cents, p.base_mass, COALESCE(i.stock_count, 0) AS stock_count,
        COALESCE(i.reserved_count, 0) AS reserved_count, p.retired_at IS NOT NULL AS retired
     FROM products p LEFT JOIN inventory i ON i.product_id = p.id";

impl From<AdminRow> for AdminProduct {
    fn from(row: AdminRow) -> Self {
        Self {
            product_id: row.product_id.to_string(),
            slug: row.slug,
            name: row.name,
            description: row.description,
            image_url: row.image_url,
            msrp_cents: row.msrp_cents,
            price_floor_cents: row.price_floor_cents,
            base_mass: row.base_mass,
            stock_count: row.stock_count,
            reserved_count: row.reserved_count,
            retired: row.retired,
        }
    }
}

/// `GET /api/admin/products`: the whole catalog, retired products included, in catalog order.
async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<AdminProducts>, ApiError> {
    let rows: Vec<AdminRow> =
        sqlx::query_as(&format!("{SELECT_ADMIN} ORDER BY p.retired_at IS NOT NULL, p.sort_order, p.slug"))
            .fetch_all(&state.pool)
            .await?;
    Ok(Json(AdminProducts { products: rows.into_iter().map(AdminProduct::from).collect() }))
}

async fn load(state: &AppState, id: Uuid) -> Result<AdminProduct, ApiError> {
    let row: Option<AdminRow> =
        sqlx::query_as(&format!("{SELECT_ADMIN} WHERE p.id = $1")).bind(id).fetch_optional(&state.pool).await?;
    row.map(AdminProduct::from).ok_or(ApiError::NotFound("no such product"))
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

/// Maps the table's own checks (floor above msrp, a taken slug) to clear errors.
fn constraint_error(e: sqlx::Error) -> ApiError {
    match e.as_database_error().and_then(|d| d.code()).as_deref() {
        Some("23505") => ApiError::Conflict("a product with this slug already exists"),
        Some("23514") => ApiError::Unprocessable("values out of range: the price floor must not exceed msrpCents, the slug must be lower-case words joined by dashes".into()),
        _ => e.into(),
    }
}

/// Writes the live state of new products to Redis now, rather than at the engine's next reload.
async fn publish(state: &AppState) {
    if let Err(e) = product_state::cold_boot(&state.pool, &state.redis, &state.keys).await {
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
    let mut tx = state.pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO products (slug, name, description, image_path, msrp_cents, price_floor_cents, base_mass, sort_order)
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(max(sort_order), 0) + 1 FROM products)) RETURNING id",
    )
    .bind(body.slug.trim())
    .bind(body.name.trim())
    .bind(body.description.trim())
    .bind(&image)
    .bind(body.msrp_cents)
    .bind(floor)
    .bind(mass)
    .fetch_one(&mut *tx)
    .await
    .map_err(constraint_error)?;
    sqlx::query("INSERT INTO inventory (product_id, stock_count) VALUES ($1, $2)")
        .bind(id)
        .bind(body.stock_count as i32)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
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
    let changed = sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
            image_path = COALESCE($4, image_path), msrp_cents = COALESCE($5, msrp_cents),
            price_floor_cents = COALESCE($6, price_floor_cents), base_mass = COALESCE($7, base_mass), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(body.name.as_deref().map(str::trim))
    .bind(body.description.as_deref().map(str::trim))
    .bind(body.image_url.as_deref())
    .bind(body.msrp_cents)
    .bind(body.price_floor_cents)
    .bind(body.base_mass)
    .execute(&state.pool)
    .await
    .map_err(constraint_error)?
    .rows_affected();
    if changed == 0 {
        return Err(ApiError::NotFound("no such product"));
    }
    Ok(Json(load(&state, id).await?))
}

async fn retire(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let changed =
        sqlx::query("UPDATE products SET retired_at = COALESCE(retired_at, now()), updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&state.pool)
            .await?
            .rows_affected();
    if changed == 0 {
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
    // Never below what open checkouts hold: those units are promised.
    let changed = sqlx::query(
        "UPDATE inventory SET stock_count = $2, updated_at = now() WHERE product_id = $1 AND reserved_count <= $2",
    )
    .bind(id)
    .bind(body.stock_count as i32)
    .execute(&state.pool)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(ApiError::Unprocessable(format!(
            "{} units are reserved by open checkouts; stockCount cannot go below that",
            product.reserved_count
        )));
    }
    Ok(Json(load(&state, id).await?))
}
