//! Kubernetes resource quantities (`1Gi`, `1024Mi`, `500m`, `0.5`, `1e3`), compared by value.
//!
//! KubeDB's admission webhook and the API server may rewrite a quantity into another spelling
//! (`0.5` → `500m`), so the plan never compares the strings: `1Gi` and `1024Mi` are the same
//! size and must not look like drift.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Errors from parsing a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{0:?} is not a Kubernetes quantity (expected forms like 500m, 2, 1.5Gi, 1e3)")]
    Malformed(String),
    #[error("{0:?} is too large to compare")]
    Overflow(String),
    #[error("a quantity must be a string or a number, found {0}")]
    NotScalar(String),
}

/// A quantity as an exact count of nano-units (10⁻⁹), the smallest unit Kubernetes keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    /// Parses the canonical Kubernetes quantity syntax.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let malformed = || QuantityError::Malformed(text.to_string());
        let overflow = || QuantityError::Overflow(text.to_string());
        let trimmed = text.trim();
        let (negative, unsigned) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, &trimmed[1..]),
            Some(b'+') => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let number_end = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (digits, scale) = parse_decimal(number).ok_or_else(malformed)?;
        // value = digits × 10^(decimal_exponent) × 1024^(binary_power)
        let (decimal_exponent, binary_power) = parse_suffix(suffix).ok_or_else(malformed)?;
        let mut nanos = digits;
        let mut exponent = decimal_exponent - scale + 9;
        for _ in 0..binary_power {
            nanos = nanos.checked_mul(1024).ok_or_else(overflow)?;
        }
        while exponent > 0 {
            nanos = nanos.checked_mul(10).ok_or_else(overflow)?;
            exponent -= 1;
        }
        while exponent < 0 {
            // Kubernetes rounds sub-nano precision up; so do we, so equal inputs stay equal.
            nanos = nanos / 10 + i128::from(nanos % 10 != 0);
            exponent += 1;
        }
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// Parses a JSON quantity, which the schema allows as a string or an integer.
    pub fn from_json(value: &Value) -> Result<Self, QuantityError> {
        match value {
            Value::String(text) => Self::parse(text),
            Value::Number(number) => Self::parse(&number.to_string()),
            other => Err(QuantityError::NotScalar(other.to_string())),
        }
    }

    /// The exact value in nano-units.
    pub fn nanos(self) -> i128 {
        self.nanos
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.nanos / NANOS_PER_UNIT;
        let fraction = (self.nanos % NANOS_PER_UNIT).abs();
        if fraction == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{fraction:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Compares two JSON quantities by value; falls back to string equality when either side is
/// not a quantity, so a malformed value is still seen as a change rather than hidden.
pub fn json_quantities_equal(a: &Value, b: &Value) -> bool {
    match (Quantity::from_json(a), Quantity::from_json(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Orders two JSON quantities; `None` when either is not a quantity.
pub fn compare_json_quantities(a: &Value, b: &Value) -> Option<Ordering> {
    Some(
        Quantity::from_json(a)
            .ok()?
            .cmp(&Quantity::from_json(b).ok()?),
    )
}

/// Splits `12.50` into (1250, 2): the digits and how many of them follow the point.
fn parse_decimal(number: &str) -> Option<(i128, i32)> {
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mut digits: i128 = 0;
    for c in whole.chars().chain(fraction.chars()) {
        digits = digits
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    Some((digits, i32::try_from(fraction.len()).ok()?))
}

/// Returns (decimal exponent, power of 1024) for a suffix.
fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let decimal = |exponent| Some((exponent, 0));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => Some((0, 1)),
        "Mi" => Some((0, 2)),
        "Gi" => Some((0, 3)),
        "Ti" => Some((0, 4)),
        "Pi" => Some((0, 5)),
        "Ei" => Some((0, 6)),
        exponent if exponent.starts_with(['e', 'E']) => {
            let value: i32 = exponent[1..].parse().ok()?;
            (-40..=40).contains(&value).then_some((value, 0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
