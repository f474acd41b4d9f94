//! Money as typed and shown: the payment token's base units (10^-6 USD) to and from dollars.

use gridmint_protocol::{ApiError, ErrorCode};

/// "0.001" for 1000 base units (10^-6 USD).
pub fn usd_of_units(units: u64) -> String {
    gridmint_protocol::Usd::from_base_units(u128::from(units)).to_string()
}

/// Base units (10^-6 USD) of a typed dollar amount: at most 6 decimals, no sign.
pub fn units_of_usd(name: &str, text: &str) -> Result<u64, ApiError> {
    let text = text.trim().trim_start_matches('$');
    let bad =
        || ApiError::new(ErrorCode::InvalidInput, format!("{name}: {text:?} is not an amount in dollars (like 0.001)"));
    if text.is_empty() {
        return Ok(0);
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 6
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || (whole.is_empty() && frac.is_empty())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: u64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    whole.checked_mul(1_000_000).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_amounts_parse_to_base_units_exactly_or_name_the_field() {
        assert_eq!(units_of_usd("price floor", "0.001"), Ok(1000));
        assert_eq!(units_of_usd("price floor", "$2.5"), Ok(2_500_000));
        assert_eq!(units_of_usd("price floor", " 7 "), Ok(7_000_000));
        assert_eq!(units_of_usd("price floor", ".000001"), Ok(1));
        assert_eq!(units_of_usd("price floor", ""), Ok(0), "blank: no floor");
        for bad in ["0.0000001", "-1", "1e3", "abc", ".", "1.2.3", "99999999999999999999"] {
            let err = units_of_usd("price floor", bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidInput);
            assert!(err.message.starts_with("price floor:"), "names the field: {}", err.message);
        }
        for units in [0, 1, 1000, 2_500_000, 123_456_789] {
            assert_eq!(units_of_usd("x", &usd_of_units(units)), Ok(units), "round trip of {units}");
        }
    }
}
