//! What earning costs in electricity: the device's power draw while it computes (measured where
//! the platform reports it, else its rated board power) times the owner's tariff, for an hour of
//! work and for the work the market paid; and the price below which an hour of work costs more
//! in electricity than it pays.

use gridmint_protocol::{DeviceKind, NetEarnings, Price, Region, Usd};

/// A device's power draw while computing, and what a kilowatt-hour costs its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Electricity {
    /// Watts while computing.
    pub watts: u32,
    /// Read from the platform (hwmon, nvidia-smi) rather than the rated board power.
    pub measured: bool,
    /// What a kWh costs.
    pub usd_per_kwh: Usd,
    /// Where the tariff comes from, in words.
    pub tariff_basis: String,
}

impl Electricity {
    /// The power of `watts` (a reading, else the rated power of the device named `device` of
    /// `kind`) at the owner's tariff `usd_per_kwh`, else the default of `region`.
    pub fn new(device: &str, kind: DeviceKind, watts: Option<u32>, usd_per_kwh: Option<Usd>, region: Region) -> Self {
        let (usd_per_kwh, tariff_basis) = match usd_per_kwh {
            Some(t) => (t, "your tariff".to_owned()),
            None => default_tariff(region),
        };
        Self {
            watts: watts.unwrap_or_else(|| rated_watts(device, kind)),
            measured: watts.is_some(),
            usd_per_kwh,
            tariff_basis,
        }
    }

    /// Electricity for an hour of work.
    pub fn per_hour(&self) -> Usd {
        Usd::from_base_units(u128::from(self.watts).saturating_mul(self.usd_per_kwh.base_units()) / 1_000)
    }

    /// Electricity for `units` work units on a device computing `gflops` GFLOP/s of them.
    pub fn for_work(&self, units: u64, gflops: u32) -> Usd {
        let joules_scaled =
            u128::from(units).saturating_mul(u128::from(self.watts)).saturating_mul(self.usd_per_kwh.base_units());
        // units GFLOP / gflops GFLOP/s = seconds; W × s / 3.6e6 = kWh.
        Usd::from_base_units(joules_scaled / (u128::from(gflops.max(1)) * 3_600_000))
    }

    /// The hour of a device computing `gflops` GFLOP/s at `price`: gross, electricity, net, and
    /// the price at which the two are equal.
    pub fn hour_at(&self, price: Price, gflops: u32) -> NetEarnings {
        let gross = price.per_hour(f64::from(gflops));
        let cost = self.per_hour();
        let (net, loses_money) = match gross.base_units().checked_sub(cost.base_units()) {
            Some(n) => (n, false),
            None => (cost.base_units() - gross.base_units(), true),
        };
        NetEarnings {
            power_w: self.watts,
            power_measured: self.measured,
            usd_per_kwh: self.usd_per_kwh,
            tariff_basis: self.tariff_basis.clone(),
            gflops,
            price,
            gross_usd_per_hour: gross,
            electricity_usd_per_hour: cost,
            net_usd_per_hour: Usd::from_base_units(net),
            loses_money,
            break_even: Price::for_hourly(cost, f64::from(gflops)),
        }
    }
}

/// A device's rated board power (its vendor's figure), watts, by its name; else a typical figure
/// for its kind. Used where the platform reports no reading.
pub fn rated_watts(device: &str, kind: DeviceKind) -> u32 {
    let name = device.to_ascii_lowercase();
    // (what the name contains, watts): the first match wins, so the more specific come first.
    const RATED: [(&str, u32); 12] = [
        ("h100 pcie", 350),
        ("h100", 700),
        ("h200", 700),
        ("a100-pcie", 300),
        ("a100", 400),
        ("mi300x", 750),
        ("l40s", 350),
        ("rtx 4090", 450),
        ("rtx 3090", 350),
        ("l4", 72),
        ("t4", 70),
        ("a10", 150),
    ];
    if let Some((_, w)) = RATED.iter().find(|(n, _)| name.contains(n)) {
        return *w;
    }
    match kind {
        DeviceKind::DiscreteGpu => 250,
        DeviceKind::IntegratedGpu => 30,
        // A CPU implementation (llvmpipe) loads the CPU: a desktop package under load.
        DeviceKind::Cpu => 65,
        DeviceKind::VirtualGpu | DeviceKind::Other => 150,
    }
}

/// The kind of a device known by its name only (the agent's status carries the name): CPU
/// implementations and the common integrated GPUs by name, else a discrete GPU.
pub fn kind_from_name(device: &str) -> DeviceKind {
    let name = device.to_ascii_lowercase();
    if ["llvmpipe", "lavapipe", "swiftshader", "softpipe"].iter().any(|n| name.contains(n)) {
        DeviceKind::Cpu
    } else if ["uhd graphics", "iris", "radeon(tm) graphics", "radeon graphics", "apple m"]
        .iter()
        .any(|n| name.contains(n))
    {
        DeviceKind::IntegratedGpu
    } else {
        DeviceKind::DiscreteGpu
    }
}

/// A household tariff for `region`, $/kWh, with its source; the owner sets their own in the app.
pub fn default_tariff(region: Region) -> (Usd, String) {
    let (base_units, basis) = match region.name() {
        "eu-west" | "eu-central" | "eu-north" => (
            330_000,
            "EU household average, €28.72 per 100 kWh in the first half of 2025 (Eurostat), at $1.15 per euro",
        ),
        "us-east" | "us-west" => {
            (170_000, "US residential average, 15.45 to 16.88 ¢/kWh in January to April 2024 (EIA), rounded up")
        }
        _ => (200_000, "no regional figure for this machine's region: a middle value, set yours"),
    };
    (Usd::from_base_units(base_units), basis.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        s.parse().expect("dollars")
    }

    /// Issue #23 point 7: an H100 (rated 700 W) in Germany at the EU average tariff, at the
    /// default price: $2.49 an hour gross, $0.231 of electricity, $2.26 net; below $0.0026 per
    /// PFLOP it would cost more than it earns.
    #[test]
    fn an_h100_hour_net_of_electricity_and_the_price_it_breaks_even_at() {
        let eu = "eu-central".parse().expect("region");
        let power = Electricity::new("NVIDIA H100 80GB HBM3", DeviceKind::DiscreteGpu, None, None, eu);
        assert_eq!((power.watts, power.measured), (700, false));
        assert_eq!(power.usd_per_kwh.to_string(), "0.33");
        let hour = power.hour_at(Price::H100_REFERENCE, 24_907);
        assert_eq!(hour.gross_usd_per_hour.to_string(), "2.492693");
        assert_eq!(hour.electricity_usd_per_hour.to_string(), "0.231");
        assert_eq!(hour.net_usd_per_hour.to_string(), "2.261693");
        assert!(!hour.loses_money);
        assert_eq!(hour.break_even, Price(2_577), "0.231 $/h over 24,907 GFLOP/s");
        // At a floor below break-even the hour loses money, and says by how much.
        let cheap = power.hour_at(Price(1_000), 24_907);
        assert!(cheap.loses_money);
        assert_eq!(cheap.net_usd_per_hour.to_string(), "0.141335");
    }

    /// A reading wins over the rated power; the owner's tariff over the region's; llvmpipe is a
    /// CPU package's draw.
    #[test]
    fn a_reading_and_the_owners_tariff_win_over_the_defaults() {
        let us = "us-east".parse().expect("region");
        let measured =
            Electricity::new("NVIDIA GeForce RTX 4090", DeviceKind::DiscreteGpu, Some(380), Some(usd("0.12")), us);
        assert_eq!((measured.watts, measured.measured, measured.tariff_basis.as_str()), (380, true, "your tariff"));
        assert_eq!(measured.per_hour().to_string(), "0.0456");
        let rated = Electricity::new("NVIDIA GeForce RTX 4090", DeviceKind::DiscreteGpu, None, None, us);
        assert_eq!((rated.watts, rated.usd_per_kwh.to_string().as_str()), (450, "0.17"));
        assert_eq!(rated_watts("llvmpipe (LLVM 15.0.6, 256 bits)", DeviceKind::Cpu), 65);
        assert_eq!(rated_watts("NVIDIA H100 PCIe", DeviceKind::DiscreteGpu), 350);
        assert_eq!(rated_watts("Some New GPU", DeviceKind::DiscreteGpu), 250);
        assert!(default_tariff(Region::UNSPECIFIED).1.contains("set yours"));
        assert_eq!(kind_from_name("llvmpipe (LLVM 15.0.6, 256 bits)"), DeviceKind::Cpu);
        assert_eq!(kind_from_name("Intel(R) UHD Graphics 770"), DeviceKind::IntegratedGpu);
        assert_eq!(kind_from_name("NVIDIA H100 80GB HBM3"), DeviceKind::DiscreteGpu);
    }

    /// Electricity for the work the market paid: 89,665,200 work units are one hour of an H100.
    #[test]
    fn the_electricity_of_paid_work_is_its_device_time_at_the_draw() {
        let power = Electricity::new("x", DeviceKind::DiscreteGpu, Some(700), Some(usd("0.33")), Region::UNSPECIFIED);
        assert_eq!(power.for_work(89_665_200, 24_907).to_string(), "0.231");
        assert_eq!(power.for_work(0, 24_907).to_string(), "0.00");
        assert_eq!(power.for_work(10, 0).base_units(), 641, "a device of no measured rate counts as 1 GFLOP/s");
    }
}
