//! How times and sizes read on screen. Money has its own module ([`crate::money`]).

/// "14:00" (hours of a day) or "Nov 26" (days), UTC.
pub fn utc_label(unix_s: u64, hourly: bool) -> String {
    if hourly {
        return format!("{:02}:00 UTC", unix_s / 3600 % 24);
    }
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (unix_s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {day}", MONTHS[(month - 1) as usize])
}

pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_labels_are_utc_hours_and_civil_dates() {
        assert_eq!(utc_label(0, false), "Jan 1");
        assert_eq!(utc_label(0, true), "00:00 UTC");
        // 2026-11-26 07:00 UTC.
        assert_eq!(utc_label(1_795_676_400, true), "07:00 UTC");
        assert_eq!(utc_label(1_795_676_400, false), "Nov 26");
        // 2024-02-29 (a leap day).
        assert_eq!(utc_label(1_709_164_800, false), "Feb 29");
    }

    #[test]
    fn sizes_read_in_gibibytes() {
        assert_eq!(gib(0), "0.0 GiB");
        assert_eq!(gib(3 << 29), "1.5 GiB");
    }
}
