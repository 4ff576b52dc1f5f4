//! Card-number detection, to prove none is ever stored or logged: every test database and Redis
//! prefix is scanned before it is dropped, and `server scan-pii` scans a deployment and its log.
//!
//! A card-number-like string is a run of 13 to 19 digits (in one piece, or in groups of four
//! joined by single spaces or dashes) that passes the Luhn check, as every real card number does.

use sqlx::PgPool;

use crate::redis_pool::RedisStore;

/// Every card-number-like string in `text`, masked to its last four digits.
pub fn card_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut run = Run::default();
    let mut last = ' ';
    for c in text.chars() {
        if c.is_ascii_digit() {
            if run.digits.is_empty() && run.group == 0 {
                // A run glued to letters is part of an id (hex, base62); after a '.' a fraction.
                run.ignored = last.is_ascii_alphabetic() || last == '.' || last == '_';
            }
            run.digits.push(c);
            run.group += 1;
        } else if (c == ' ' || c == '-') && run.group == 4 {
            run.group = 0; // cards are written in groups of four
            run.grouped = true;
        } else {
            run.end(c, &mut found);
        }
        last = c;
    }
    run.end(' ', &mut found);
    found
}

/// The digits seen since the last break.
#[derive(Default)]
struct Run {
    digits: String,
    /// Digits since the last separator.
    group: usize,
    /// Written in groups (then the last group has four digits too).
    grouped: bool,
    ignored: bool,
}

impl Run {
    fn end(&mut self, next: char, found: &mut Vec<String>) {
        let digits = &self.digits;
        let shaped = (13..=19).contains(&digits.len()) && (!self.grouped || self.group == 4);
        // Issuer prefixes start with 2–6 (Mastercard, Visa, Amex, Discover, JCB, UnionPay…);
        // that also leaves out epoch timestamps, which start with 1.
        let issuer = digits.as_bytes().first().is_some_and(|d| (b'2'..=b'6').contains(d));
        if shaped && issuer && !self.ignored && !next.is_ascii_alphabetic() && next != '.' && luhn(digits) {
            found.push(format!("…{}", &digits[digits.len() - 4..]));
        }
        *self = Run::default();
    }
}

/// The Luhn checksum of a digit string.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card-number-like strings in any text column of any table of this database.
pub async fn scan_database(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    // Binary columns (token hashes) are digests, not text anyone typed: left out.
    let tables: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT quote_ident(t.table_name),
                COALESCE(array_agg(c.column_name::text) FILTER (WHERE c.data_type = 'bytea'), '{}')
         FROM information_schema.tables t
         JOIN information_schema.columns c ON c.table_schema = t.table_schema AND c.table_name = t.table_name
         WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' GROUP BY t.table_name",
    )
    .fetch_all(pool)
    .await?;
    let mut found = Vec::new();
    for (table, binary) in tables {
        // Every row as JSON text: covers text, json and numeric columns alike.
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT (to_jsonb(t) - $1::text[])::text FROM {table} t"))
            .bind(&binary)
            .fetch_all(pool)
            .await?;
        for row in rows {
            found.extend(card_numbers(&row).into_iter().map(|m| format!("{table}: {m}")));
        }
    }
    Ok(found)
}

/// Card-number-like strings in any key or value under `keys`' prefix.
pub async fn scan_redis(redis: &RedisStore) -> anyhow::Result<Vec<String>> {
    let keys = &redis.keys;
    use deadpool_redis::redis;
    let mut conn = redis.conn().await?;
    let names: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", keys.prefix())).query_async(&mut conn).await?;
    let mut found = Vec::new();
    for name in names {
        let kind: String = redis::cmd("TYPE").arg(&name).query_async(&mut conn).await?;
        let text = match kind.as_str() {
            "string" => {
                redis::cmd("GET").arg(&name).query_async::<Option<String>>(&mut conn).await?.unwrap_or_default()
            }
            "hash" => format!("{:?}", redis::cmd("HGETALL").arg(&name).query_async::<Vec<String>>(&mut conn).await?),
            "list" => format!(
                "{:?}",
                redis::cmd("LRANGE").arg(&name).arg(0).arg(-1).query_async::<Vec<Vec<u8>>>(&mut conn).await?
            ),
            "set" => format!("{:?}", redis::cmd("SMEMBERS").arg(&name).query_async::<Vec<String>>(&mut conn).await?),
            "zset" => format!(
                "{:?}",
                redis::cmd("ZRANGE").arg(&name).arg(0).arg(-1).query_async::<Vec<String>>(&mut conn).await?
            ),
            _ => String::new(),
        };
        found.extend(card_numbers(&format!("{name} {text}")).into_iter().map(|m| format!("{name}: {m}")));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_cards_however_written() {
        assert_eq!(card_numbers("card 4242424242424242 ok"), vec!["…4242"]);
        assert_eq!(card_numbers("4000 0000 0000 0341"), vec!["…0341"]);
        assert_eq!(card_numbers("x=4000-0025-0000-3155;"), vec!["…3155"]);
        assert_eq!(card_numbers("id:4242424242424242"), vec!["…4242"]);
    }

    #[test]
    fn ignores_what_is_not_a_card() {
        assert!(card_numbers("4242424242424241").is_empty(), "fails Luhn");
        assert!(card_numbers("0000000000000000").is_empty());
        assert!(card_numbers("fence 1795652374123").is_empty(), "an epoch timestamp");
        assert!(card_numbers("30253787-5864-4114-8258-5c52fd335879").is_empty(), "a uuid with digit groups");
        assert!(card_numbers("a4242424242424242b").is_empty(), "digits inside an id");
        assert!(card_numbers("order 1795652374 at 1234 cents, pi_TZZjdgfv9nVruw").is_empty());
        assert!(card_numbers("4242 4242  4242 4242").is_empty(), "two separators split the run");
        assert!(card_numbers("550e8400-e29b-41d4-a716-446655440000").is_empty(), "a uuid");
        assert!(card_numbers("0.4242424242424242").is_empty(), "a fraction");
        assert_eq!(card_numbers("123-4242424242424242"), vec!["…4242"], "a short group is not part of the card");
    }
}
