//! The market's quantities, each one type with its unit written down and its wire form and
//! formatting in one place: a job's id, work units, and amounts of the two tokens. On the wire a
//! job id and an amount are decimal strings (JavaScript numbers lose digits past 2^53); work units
//! are numbers.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A job's id on the market (ids start at 1; the contract counts them in 64 bits). A decimal
/// string on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(u64);

impl JobId {
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a text is not a job id, an amount or a number of work units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub what: &'static str,
    pub input: String,
    pub why: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not {}: {}", self.input, self.what, self.why)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for JobId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = |why| ParseError { what: "a job id", input: s.to_owned(), why };
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("a job id is a whole number, in decimal"));
        }
        s.parse::<u64>().map(JobId).map_err(|_| bad("larger than any job id the market gives"))
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// Work on the market's scale: one unit is 10^9 floating-point operations (a GFLOP), rounded up,
/// at least 1 for any job. Prices are per work unit. (The runner meters raw FLOPs; see
/// [`WorkUnits::from_flops`].)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkUnits(pub u64);

impl WorkUnits {
    /// Floating-point operations per work unit.
    pub const FLOPS_PER_UNIT: u64 = 1_000_000_000;

    /// The work units of a job the runner metered at `flops` floating-point operations.
    pub fn from_flops(flops: u64) -> Self {
        Self(flops.div_ceil(Self::FLOPS_PER_UNIT).max(1))
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for WorkUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A price on the market: millionths of a payment-token base unit per work unit (the contract's
/// `pricePerUnit`). With the 6-decimal dollar token that is 10^-12 USD per GFLOP, which is the
/// same number as micro-dollars per PFLOP (10^15 operations): [`Price::usd_per_pflop`] shows it.
/// A replica's pay for its work units rounds up to a whole base unit ([`Price::pay_for`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(pub u64);

impl Price {
    /// Price units per payment-token base unit per work unit (`Settlement.PRICE_SCALE`).
    pub const SCALE: u128 = 1_000_000;

    /// The default offer, from a real price: an NVIDIA H100 SXM 80GB rents on demand for $2.49
    /// an hour at the low end of the specialty GPU clouds (CoreWeave, Lambda, Crusoe, RunPod:
    /// $2.49 to $3.99, pricegpu.pages.dev, "H100 vs A100 Cloud Pricing", early 2026; $1.99 to
    /// $5.00 across 22 providers, mercatus-ai.com, May 2026), and computes 24,907 GFLOP/s in our
    /// deterministic unfused GEMM (bench/RESULTS.md, session 10, 4096³). $2.49 / (24,907 GFLOP/s ×
    /// 3,600 s) = $2.78 × 10^-8 per GFLOP: 27,800 price units, $0.0278 per PFLOP.
    pub const H100_REFERENCE: Price = Price(27_800);
    /// The reference device's deterministic GEMM rate behind [`Price::H100_REFERENCE`], GFLOP/s.
    pub const H100_GFLOPS: f64 = 24_907.0;

    pub const fn get(self) -> u64 {
        self.0
    }

    /// Dollars per PFLOP (10^15 operations) with the 6-decimal dollar token.
    pub fn usd_per_pflop(self) -> Usd {
        Usd::from_base_units(u128::from(self.0))
    }

    /// What `units` of work pay at this price, per replica (rounded up, as the market pays).
    pub fn pay_for(self, units: u64) -> Usd {
        Usd::from_base_units((u128::from(self.0) * u128::from(units)).div_ceil(Self::SCALE))
    }

    /// What an hour of a device computing `gflops` GFLOP/s of work units pays at this price.
    pub fn per_hour(self, gflops: f64) -> Usd {
        let base_units = self.0 as f64 * gflops.max(0.0) * 3_600.0 / Self::SCALE as f64;
        Usd::from_base_units(base_units.round() as u128)
    }

    /// The price at which an hour of a device computing `gflops` GFLOP/s pays `usd_per_hour`
    /// (rounded up to a whole price unit; at least 1).
    pub fn for_hourly(usd_per_hour: Usd, gflops: f64) -> Price {
        if gflops <= 0.0 {
            return Price(1);
        }
        let units = usd_per_hour.base_units() as f64 * Self::SCALE as f64 / (gflops * 3_600.0);
        Price((units.ceil() as u64).max(1))
    }
}

impl fmt::Display for Price {
    /// "$0.0278 per PFLOP".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${} per PFLOP", self.usd_per_pflop())
    }
}

macro_rules! token_amount {
    ($(#[$doc:meta])* $name:ident, $decimals:expr, $symbol:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u128);

        impl $name {
            /// Decimal places of the token.
            pub const DECIMALS: u32 = $decimals;
            /// The token's symbol, as the app shows it.
            pub const SYMBOL: &'static str = $symbol;

            /// `base_units` of the token (10^-DECIMALS of one).
            pub const fn from_base_units(base_units: u128) -> Self {
                Self(base_units)
            }

            pub const fn base_units(self) -> u128 {
                self.0
            }
        }

        /// Whole units with the decimals that matter: at least two places, trailing zeros
        /// trimmed (`1234500` base units of a 6-decimal token: "1.2345").
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&format_units(self.0, Self::DECIMALS))
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                parse_units(s, Self::DECIMALS, $what).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}

token_amount!(
    /// An amount of the payment token (a USD stablecoin, 6 decimals), in its base units.
    Usd,
    6,
    "USD",
    "an amount of dollars"
);

token_amount!(
    /// An amount of the protocol token (GRID, 18 decimals), in wei.
    Grid,
    18,
    "GRID",
    "an amount of GRID"
);

/// Formats `amount` base units of a token with `decimals` decimals, trimming trailing zeros but
/// keeping at least two places (`1234500` with 6 → "1.2345", `0` → "0.00").
pub fn format_units(amount: u128, decimals: u32) -> String {
    let scale = 10u128.pow(decimals);
    let whole = amount / scale;
    let mut frac = format!("{:0width$}", amount % scale, width = decimals as usize);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    if decimals == 0 { whole.to_string() } else { format!("{whole}.{frac}") }
}

/// Parses a decimal amount of whole units ("1.25", "0.000001", "3") into base units of a token
/// with `decimals` decimals: no sign, no exponent, no more places than the token has.
pub fn parse_units(text: &str, decimals: u32, what: &'static str) -> Result<u128, ParseError> {
    let bad = |why| ParseError { what, input: text.to_owned(), why };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("there is no number"));
    }
    if !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad("only digits and one decimal point"));
    }
    if frac.len() > decimals as usize {
        return Err(bad("more decimal places than the token has"));
    }
    let scale = 10u128.pow(decimals);
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad("too large"))? };
    let frac_units: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u128>().map_err(|_| bad("too large"))? * 10u128.pow(decimals - frac.len() as u32)
    };
    whole.checked_mul(scale).and_then(|w| w.checked_add(frac_units)).ok_or_else(|| bad("too large"))
}

#[cfg(test)]
mod price_tests {
    use super::*;

    /// Issue #23 point 6: the default offer prices the reference H100's hour at the rental price
    /// it came from, and pay rounds up as the market pays.
    #[test]
    fn the_default_price_pays_an_h100_hour_what_one_rents_for() {
        let hour = Price::H100_REFERENCE.per_hour(Price::H100_GFLOPS);
        assert_eq!(hour.to_string(), "2.492693", "$2.49 an hour");
        assert_eq!(Price::H100_REFERENCE.to_string(), "$0.0278 per PFLOP");
        assert_eq!(Price::for_hourly("2.49".parse().expect("valid"), Price::H100_GFLOPS), Price(27_770));
        assert_eq!(Price(1_500_000).pay_for(1).base_units(), 2, "1.5 base units round up");
        assert_eq!(Price(1).pay_for(1).base_units(), 1);
        assert_eq!(Price(27_800).pay_for(0).base_units(), 0);
        // The old default (1,000 base units per unit, then $0.001 per GFLOP) priced that hour at
        // about $90,000; the same number now means $0.001 per PFLOP.
        assert_eq!(Price(1_000).per_hour(Price::H100_GFLOPS).to_string(), "0.089665");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_format_without_losing_digits() {
        assert_eq!(format_units(0, 6), "0.00");
        assert_eq!(format_units(1_234_500, 6), "1.2345");
        assert_eq!(format_units(5, 6), "0.000005");
        assert_eq!(format_units(10_000 * 10u128.pow(18), 18), "10000.00");
        assert_eq!(format_units(7, 0), "7");
    }

    #[test]
    fn amounts_round_trip_through_their_wire_form() {
        for base in [0u128, 1, 5, 1_000, 1_234_500, 10u128.pow(12) + 7] {
            let usd = Usd::from_base_units(base);
            let json = serde_json::to_string(&usd).expect("serializes");
            assert!(json.starts_with('"'), "a string on the wire: {json}");
            assert_eq!(serde_json::from_str::<Usd>(&json).expect("parses"), usd, "{json}");
        }
        let grid = Grid::from_base_units(10_000 * 10u128.pow(18) + 1);
        assert_eq!(grid.to_string(), "10000.000000000000000001");
        assert_eq!(grid.to_string().parse::<Grid>(), Ok(grid));
        assert_eq!("3".parse::<Usd>(), Ok(Usd::from_base_units(3_000_000)));
        assert_eq!(".5".parse::<Usd>(), Ok(Usd::from_base_units(500_000)));
    }

    #[test]
    fn bad_amounts_and_ids_say_what_is_wrong() {
        for (text, why) in [
            ("", "there is no number"),
            ("1.2.3", "only digits"),
            ("-1", "only digits"),
            ("1e6", "only digits"),
            ("0.0000001", "more decimal places"),
            ("999999999999999999999999999999999999999", "too large"),
        ] {
            let err = text.parse::<Usd>().expect_err(text);
            assert!(err.to_string().contains(why), "{text}: {err}");
            assert!(err.to_string().contains("dollars"), "{text}: {err}");
        }
        assert_eq!("42".parse::<JobId>(), Ok(JobId::new(42)));
        for bad in ["", "0x2a", "-1", "4 2", "18446744073709551616"] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&JobId::new(7)).expect("json"), "\"7\"");
        assert!(serde_json::from_str::<JobId>("7").is_err(), "a number is not the wire form");
    }

    #[test]
    fn work_units_are_gflops_rounded_up_and_never_zero() {
        assert_eq!(WorkUnits::from_flops(0), WorkUnits(1));
        assert_eq!(WorkUnits::from_flops(1), WorkUnits(1));
        assert_eq!(WorkUnits::from_flops(1_000_000_000), WorkUnits(1));
        assert_eq!(WorkUnits::from_flops(1_000_000_001), WorkUnits(2));
        assert_eq!(serde_json::to_string(&WorkUnits(12)).expect("json"), "12");
    }
}
