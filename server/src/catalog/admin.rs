//! The catalog as operators change it: every product with its stock, creation, edits,
//! retirement and stock levels. `http/admin.rs` checks the values first; what the tables' own
//! constraints refuse comes back as a [`ChangeError`].

use app::api::AdminProduct;
use sqlx::PgPool;
use uuid::Uuid;

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

/// Why the database refused a change.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Another product has this slug.
    #[error("a product with this slug already exists")]
    SlugTaken,
    /// A value the table's checks refuse (a floor above the msrp, a malformed slug).
    #[error("values out of range: the price floor must not exceed msrpCents, the slug must be lower-case words joined by dashes")]
    OutOfRange,
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl ChangeError {
    /// Maps the tables' own checks (a taken slug, a value out of range) to their meaning.
    fn from_constraint(e: sqlx::Error) -> Self {
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("23505") => Self::SlugTaken,
            Some("23514") => Self::OutOfRange,
            _ => Self::Database(e),
        }
    }
}

/// A product to create, its values already checked.
pub struct NewProduct<'a> {
    /// URL name.
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// A sentence or two.
    pub description: &'a str,
    /// Its image, a path on this site.
    pub image_path: &'a str,
    /// List price, cents.
    pub msrp_cents: i64,
    /// Lowest live price, cents.
    pub price_floor_cents: i64,
    /// Communal mass when nobody is interested.
    pub base_mass: f32,
    /// Units in stock.
    pub stock_count: i32,
}

/// Changes to a product; `None` keeps the value.
#[derive(Default)]
pub struct ProductChanges<'a> {
    /// Display name.
    pub name: Option<&'a str>,
    /// Description.
    pub description: Option<&'a str>,
    /// Image path.
    pub image_path: Option<&'a str>,
    /// List price, cents.
    pub msrp_cents: Option<i64>,
    /// Lowest live price, cents.
    pub price_floor_cents: Option<i64>,
    /// Base mass.
    pub base_mass: Option<f32>,
}

/// Every product, live ones first in catalog order, then the retired ones.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<AdminProduct>> {
    let rows: Vec<AdminRow> =
        sqlx::query_as(&format!("{SELECT_ADMIN} ORDER BY p.retired_at IS NOT NULL, p.sort_order, p.slug"))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(AdminProduct::from).collect())
}

/// One product, retired or not.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<AdminProduct>> {
    let row: Option<AdminRow> =
        sqlx::query_as(&format!("{SELECT_ADMIN} WHERE p.id = $1")).bind(id).fetch_optional(pool).await?;
    Ok(row.map(AdminProduct::from))
}

/// Creates a product with its stock, last in catalog order; returns its id.
pub async fn create(pool: &PgPool, product: &NewProduct<'_>) -> Result<Uuid, ChangeError> {
    let mut tx = pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO products (slug, name, description, image_path, msrp_cents, price_floor_cents, base_mass, sort_order)
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(max(sort_order), 0) + 1 FROM products)) RETURNING id",
    )
    .bind(product.slug)
    .bind(product.name)
    .bind(product.description)
    .bind(product.image_path)
    .bind(product.msrp_cents)
    .bind(product.price_floor_cents)
    .bind(product.base_mass)
    .fetch_one(&mut *tx)
    .await
    .map_err(ChangeError::from_constraint)?;
    sqlx::query("INSERT INTO inventory (product_id, stock_count) VALUES ($1, $2)")
        .bind(id)
        .bind(product.stock_count)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Applies `changes`; `false` when there is no such product.
pub async fn change(pool: &PgPool, id: Uuid, changes: &ProductChanges<'_>) -> Result<bool, ChangeError> {
    let changed = sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
            image_path = COALESCE($4, image_path), msrp_cents = COALESCE($5, msrp_cents),
            price_floor_cents = COALESCE($6, price_floor_cents), base_mass = COALESCE($7, base_mass), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(changes.name)
    .bind(changes.description)
    .bind(changes.image_path)
    .bind(changes.msrp_cents)
    .bind(changes.price_floor_cents)
    .bind(changes.base_mass)
    .execute(pool)
    .await
    .map_err(ChangeError::from_constraint)?
    .rows_affected();
    Ok(changed > 0)
}

/// Retires a product (it stays for order history and leaves the Gravity Well); `false` when
/// there is no such product.
pub async fn retire(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let changed =
        sqlx::query("UPDATE products SET retired_at = COALESCE(retired_at, now()), updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected();
    Ok(changed > 0)
}

/// Sets the units in stock, never below what open checkouts hold (those units are promised);
/// `false` when that would go below them.
pub async fn set_stock(pool: &PgPool, id: Uuid, stock_count: i32) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE inventory SET stock_count = $2, updated_at = now() WHERE product_id = $1 AND reserved_count <= $2",
    )
    .bind(id)
    .bind(stock_count)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(changed > 0)
}
