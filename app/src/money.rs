//! Money is integer cents everywhere; this is the one place that turns cents into text and
//! typed dollar amounts into cents.

/// Cents as text, shared with the worker's painter so the canvas and the DOM read alike.
pub use physics_worker::view::format_cents;

/// Reads a typed dollar amount (`"12"`, `"12.5"`, `"$1,299.99"`) as cents, without floating
/// point; `None` for anything else (more than two decimals, signs, letters, overflow).
pub fn parse_dollars(text: &str) -> Option<i64> {
    let text: String = text.trim().trim_start_matches('$').chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.len() > 2 || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use super::{format_cents, parse_dollars};

    #[test]
    fn reads_typed_dollars_as_cents() {
        assert_eq!(parse_dollars("12"), Some(1_200));
        assert_eq!(parse_dollars("12.5"), Some(1_250));
        assert_eq!(parse_dollars(" $1,299.99 "), Some(129_999));
        assert_eq!(parse_dollars("0.07"), Some(7));
        for bad in ["", "-1", "1.234", "abc", "1.x", ".5", "99999999999999999999"] {
            assert_eq!(parse_dollars(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_cents_as_grouped_dollars() {
        assert_eq!(format_cents(0), "$0.00");
        assert_eq!(format_cents(5), "$0.05");
        assert_eq!(format_cents(129_900), "$1,299.00");
        assert_eq!(format_cents(123_456_789), "$1,234,567.89");
        assert_eq!(format_cents(-250), "-$2.50");
    }
}
