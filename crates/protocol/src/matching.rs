//! What a job asks of the hardware beyond memory and speed, as the market encodes it: the
//! reproducibility class its results are computed in, and the regions its providers may be in.
//!
//! On chain a job's `Requirements.workloadClass` is a [`ReproClass::code`] and its `regionMask`
//! has bit [`Region::code`] set for each allowed region; a provider registers the bit mask of the
//! classes its device proved ([`ReproClass::mask`]) and one region code.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// How a job's floating-point multiply-adds round: every replica of a job computes in the class
/// the job names, so their results agree bit for bit (`shared/notes/determinism.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReproClass {
    /// Multiply, round, add, round: every conformant Vulkan driver (llvmpipe included).
    #[default]
    Unfused,
    /// One rounding per multiply-add (`fma`, equal to Rust's `f32::mul_add`): only devices that
    /// proved at start that their `fma` is truly fused. Faster where it is (the H100's GEMM).
    Fused,
}

impl ReproClass {
    pub const ALL: [ReproClass; 2] = [ReproClass::Unfused, ReproClass::Fused];

    /// Its code on chain (`Requirements.workloadClass`).
    pub fn code(self) -> u8 {
        match self {
            ReproClass::Unfused => 0,
            ReproClass::Fused => 1,
        }
    }

    /// The class with on-chain code `code`, if there is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The registration's bit mask of `classes`.
    pub fn mask(classes: impl IntoIterator<Item = ReproClass>) -> u8 {
        classes.into_iter().fold(0, |m, c| m | (1 << c.code()))
    }

    /// Whether registered `mask` includes this class.
    pub fn is_in(self, mask: u8) -> bool {
        mask >> self.code() & 1 == 1
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReproClass::Unfused => "unfused",
            ReproClass::Fused => "fused",
        }
    }
}

impl fmt::Display for ReproClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no class, or no region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
    pub known: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}; one of: {}", self.name, self.what, self.known)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for ReproClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| UnknownName {
            what: "reproducibility class",
            name: s.to_owned(),
            known: "unfused, fused".into(),
        })
    }
}

/// Where a provider's machine is, as its owner declares it. It matters to a buyer for the law its
/// data falls under (a job open to the EU regions only keeps personal data in the EU) and for the
/// time its data takes to move. Code 0 means the owner did not say: such a machine claims only
/// jobs open to anywhere. A declared region is not verified by the market; a buyer whose data
/// must not leave a jurisdiction encrypts it anyway (the data is sealed to each replica).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Region(u8);

impl TryFrom<u8> for Region {
    type Error = UnknownName;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        Region::from_code(code).ok_or_else(|| UnknownName {
            what: "region code",
            name: code.to_string(),
            known: format!("0 to {}", REGIONS.len() - 1),
        })
    }
}

impl From<Region> for u8 {
    fn from(r: Region) -> u8 {
        r.0
    }
}

/// (code, name, what it covers). Codes are on chain: never renumber, only add (up to 31).
const REGIONS: [(u8, &str, &str); 17] = [
    (0, "unspecified", "not declared: claims only jobs open to anywhere"),
    (1, "us-east", "United States and Canada, east of the Mississippi"),
    (2, "us-west", "United States and Canada, west of the Mississippi"),
    (3, "latam", "Mexico, Central and South America"),
    (4, "eu-west", "EU: France, Benelux, Ireland, Spain, Portugal"),
    (5, "eu-central", "EU: Germany, Austria, Poland, Czechia, Italy and the rest of the EU"),
    (6, "eu-north", "EU and EEA: the Nordic and Baltic countries"),
    (7, "uk", "United Kingdom"),
    (8, "europe-other", "Europe outside the EU and the UK (Switzerland, Norway, Serbia, Ukraine...)"),
    (9, "middle-east", "the Middle East"),
    (10, "africa", "Africa"),
    (11, "india", "India and South Asia"),
    (12, "asia-southeast", "Singapore, Malaysia, Indonesia, Thailand, Vietnam, the Philippines"),
    (13, "asia-east", "China, Hong Kong, Taiwan"),
    (14, "japan-korea", "Japan and South Korea"),
    (15, "oceania", "Australia, New Zealand and the Pacific"),
    (16, "russia-central-asia", "Russia and Central Asia"),
];

impl Region {
    pub const UNSPECIFIED: Region = Region(0);

    /// Every region, in code order.
    pub fn all() -> impl Iterator<Item = Region> {
        REGIONS.iter().map(|r| Region(r.0))
    }

    /// The region with on-chain code `code`, if it is one of ours.
    pub fn from_code(code: u8) -> Option<Self> {
        REGIONS.iter().any(|r| r.0 == code).then_some(Region(code))
    }

    pub fn code(self) -> u8 {
        self.0
    }

    fn entry(self) -> &'static (u8, &'static str, &'static str) {
        REGIONS.iter().find(|r| r.0 == self.0).expect("a Region is only made from the table")
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// What it covers, in words.
    pub fn covers(self) -> &'static str {
        self.entry().2
    }

    /// The on-chain `regionMask` of `regions`: 0 (anywhere) when empty.
    pub fn mask(regions: &[Region]) -> u32 {
        regions.iter().fold(0, |m, r| m | 1 << r.0)
    }

    /// Whether a job with `mask` is open to a machine in this region.
    pub fn allowed_by(self, mask: u32) -> bool {
        mask == 0 || mask >> self.0 & 1 == 1
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Region {
    type Err = UnknownName;

    /// A region's name (`eu-west`), case aside.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        REGIONS.iter().find(|r| r.1.eq_ignore_ascii_case(s)).map(|r| Region(r.0)).ok_or_else(|| UnknownName {
            what: "region",
            name: s.to_owned(),
            known: REGIONS.iter().map(|r| r.1).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The on-chain `regionMask` of the regions a job allows, by code: each a region of the table
/// and a place (`unspecified` is where no machine is said to be: a job open to it would go only
/// to undeclared machines); none: anywhere.
pub fn job_region_mask(codes: &[u8]) -> Result<u32, UnknownName> {
    let places = || REGIONS.iter().skip(1).map(|r| r.1).collect::<Vec<_>>().join(", ");
    let mut regions = Vec::with_capacity(codes.len());
    for &code in codes {
        match Region::from_code(code) {
            Some(r) if r != Region::UNSPECIFIED => regions.push(r),
            Some(_) => {
                return Err(UnknownName {
                    what: "place a job can be limited to",
                    name: "unspecified".into(),
                    known: places(),
                });
            }
            None => return Err(UnknownName { what: "region code", name: code.to_string(), known: places() }),
        }
    }
    Ok(Region::mask(&regions))
}

/// Parses a comma-separated list of region names (`eu-west,eu-central`); empty: anywhere.
pub fn parse_regions(list: &str) -> Result<Vec<Region>, UnknownName> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_codes_masks_and_names_round_trip() {
        for c in ReproClass::ALL {
            assert_eq!(ReproClass::from_code(c.code()), Some(c));
            assert_eq!(c.as_str().parse::<ReproClass>(), Ok(c));
            assert!(c.is_in(ReproClass::mask([c])));
        }
        assert_eq!(ReproClass::mask(ReproClass::ALL), 0b11);
        assert!(!ReproClass::Fused.is_in(ReproClass::mask([ReproClass::Unfused])));
        assert_eq!(ReproClass::from_code(2), None);
        let e = "fma".parse::<ReproClass>().expect_err("refused");
        assert_eq!(e.to_string(), "\"fma\" is not a reproducibility class; one of: unfused, fused");
    }

    #[test]
    fn regions_have_unique_codes_and_names_within_the_chains_range() {
        let mut codes = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for r in Region::all() {
            assert!(r.code() <= 31, "{r}: the chain takes codes 0..=31");
            assert!(codes.insert(r.code()) && names.insert(r.name()), "{r} twice");
            assert_eq!(r.name().parse::<Region>(), Ok(r));
            assert_eq!(Region::from_code(r.code()), Some(r));
        }
        assert_eq!(Region::from_code(31), None);
        // On the wire a region is its code, checked: no code outside the table gets in.
        assert_eq!(serde_json::to_string(&Region::from_code(4).expect("valid")).expect("valid"), "4");
        assert!(serde_json::from_str::<Region>("30").is_err());
    }

    #[test]
    fn a_region_list_becomes_the_chains_mask_and_matches_as_the_market_does() {
        let eu = parse_regions("eu-west, EU-Central,").expect("valid");
        let mask = Region::mask(&eu);
        assert_eq!(mask, 1 << 4 | 1 << 5);
        assert!("eu-west".parse::<Region>().expect("valid").allowed_by(mask));
        assert!(!"us-east".parse::<Region>().expect("valid").allowed_by(mask));
        // Undeclared: only jobs open to anywhere.
        assert!(!Region::UNSPECIFIED.allowed_by(mask));
        assert!(Region::UNSPECIFIED.allowed_by(Region::mask(&[])));
        assert_eq!(job_region_mask(&[4, 5]), Ok(mask));
        let e = job_region_mask(&[0]).expect_err("refused");
        assert!(
            e.to_string().starts_with("\"unspecified\" is not a place a job can be limited to; one of: us-east"),
            "{e}"
        );
        assert!(job_region_mask(&[29]).expect_err("refused").to_string().starts_with("\"29\" is not a region code"));
        let e = parse_regions("eu-west,mars").expect_err("refused");
        assert!(e.to_string().starts_with("\"mars\" is not a region; one of: unspecified, us-east"), "{e}");
    }
}
