//! A provider's earnings over time, from the chain: each job it was paid for (a `ResultRevealed`
//! of its own, then a `JobFinalized` whose paid mask holds its claimant index), bucketed by the
//! chain's clock into hours (a day) or days (a week, a month), and a 24-hour prediction at the
//! rate of the last seven days.

use gridmint_protocol::{EarningsBucket, EarningsHistory, EarningsPeriod, Usd};

/// One payment to the provider: when (chain time, Unix seconds), how much (payment-token base
/// units) and for how much work (the work units it revealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub at: u64,
    pub amount: u128,
    pub units: u64,
}

const HOUR: u64 = 3_600;
const DAY: u64 = 24 * HOUR;
/// The prediction's look-back.
const RATE_WINDOW: u64 = 7 * DAY;
/// A shorter history than this is stretched to it, so one early job does not predict a fortune.
const MIN_RATE_SPAN: u64 = HOUR;

/// The bucket width and count of a period.
pub fn shape(period: EarningsPeriod) -> (u64, usize) {
    match period {
        EarningsPeriod::Day => (HOUR, 24),
        EarningsPeriod::Week => (DAY, 7),
        EarningsPeriod::Month => (DAY, 30),
    }
}

/// The history of `period` ending at `now`: buckets aligned to whole hours or days (UTC), oldest
/// first, the last one holding `now`. `earning_since` is when the provider registered (the start
/// of its earning time, for the prediction).
pub fn history(period: EarningsPeriod, now: u64, earning_since: u64, payments: &[Payment]) -> EarningsHistory {
    let (width, count) = shape(period);
    let last_start = now - now % width;
    let first_start = last_start.saturating_sub(width * (count as u64 - 1));
    let mut sums = vec![0u128; count];
    for p in payments {
        if p.at >= first_start && p.at < last_start + width {
            sums[((p.at - first_start) / width) as usize] += p.amount;
        }
    }
    let total: u128 = sums.iter().sum();
    let window_start = now.saturating_sub(RATE_WINDOW).max(earning_since.min(now));
    let span = (now - window_start).max(MIN_RATE_SPAN);
    let recent: u128 = payments.iter().filter(|p| p.at >= window_start && p.at <= now).map(|p| p.amount).sum();
    let predicted = recent * u128::from(DAY) / u128::from(span);
    let span_words = if span >= DAY {
        format!("{} days", span / DAY)
    } else if span > MIN_RATE_SPAN {
        format!("{} hours", span / HOUR)
    } else {
        "hour".to_owned()
    };
    EarningsHistory {
        period,
        buckets: sums
            .iter()
            .enumerate()
            .map(|(i, &sum)| EarningsBucket {
                start_unix_s: first_start + width * i as u64,
                usd: Usd::from_base_units(sum),
                micro_usd: u64::try_from(sum).unwrap_or(u64::MAX),
            })
            .collect(),
        total_usd: Usd::from_base_units(total),
        pending_usd: Usd::default(),
        predicted_24h_usd: Usd::from_base_units(predicted),
        market_jobs_24h: 0,
        market_median_usd_per_pflop: None,
        electricity_usd: None,
        basis: if recent == 0 {
            "no paid jobs in the last 7 days".to_owned()
        } else {
            format!("at the rate of the last {span_words}")
        },
        now_unix_s: now,
    }
}

/// The work units paid in the `period` ending at `now` (the chart's buckets): their device time
/// is what the period's electricity is counted from.
pub fn units_in_period(period: EarningsPeriod, now: u64, payments: &[Payment]) -> u64 {
    let (width, count) = shape(period);
    let last_start = now - now % width;
    let first_start = last_start.saturating_sub(width * (count as u64 - 1));
    payments.iter().filter(|p| p.at >= first_start && p.at < last_start + width).map(|p| p.units).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_land_in_the_bucket_of_their_hour_and_outside_ones_are_left_out() {
        let now = 10 * DAY + 5 * HOUR + 17;
        let payments = [
            Payment { at: now, amount: 1_000_000, units: 0 },
            Payment { at: now - 5 * HOUR, amount: 250_000, units: 0 },
            Payment { at: now - 23 * HOUR - 17, amount: 7, units: 0 },
            // Before the first hour of the day's window: not in it.
            Payment { at: now - 24 * HOUR - 17, amount: 99, units: 0 },
        ];
        let h = history(EarningsPeriod::Day, now, 0, &payments);
        assert_eq!(h.buckets.len(), 24);
        assert_eq!(h.buckets[23].start_unix_s, 10 * DAY + 5 * HOUR);
        assert_eq!(h.buckets[23].micro_usd, 1_000_000);
        assert_eq!(h.buckets[18].micro_usd, 250_000);
        assert_eq!(h.buckets[0].micro_usd, 7);
        assert_eq!(h.total_usd.to_string(), "1.250007");
        let week = history(EarningsPeriod::Week, now, 0, &payments);
        assert_eq!(week.buckets.len(), 7);
        assert_eq!(week.buckets[6].micro_usd, 1_250_000);
        assert_eq!(week.buckets[5].micro_usd, 7 + 99);
        assert_eq!(history(EarningsPeriod::Month, now, 0, &payments).buckets.len(), 30);
    }

    #[test]
    fn the_periods_paid_work_is_counted_within_its_buckets_only() {
        let now = 10 * DAY + 5 * HOUR;
        let payments = [
            Payment { at: now, amount: 1, units: 500 },
            Payment { at: now - 23 * HOUR, amount: 1, units: 40 },
            Payment { at: now - 24 * HOUR - 1, amount: 1, units: 7 },
        ];
        assert_eq!(units_in_period(EarningsPeriod::Day, now, &payments), 540);
        assert_eq!(units_in_period(EarningsPeriod::Week, now, &payments), 547);
    }

    #[test]
    fn the_prediction_is_the_last_weeks_rate_and_a_new_provider_is_not_extrapolated_from_minutes() {
        let now = 40 * DAY;
        // $7 over the last 7 days: $1 a day.
        let week: Vec<Payment> =
            (0..7).map(|d| Payment { at: now - d * DAY - 1, amount: 1_000_000, units: 0 }).collect();
        let h = history(EarningsPeriod::Week, now, 0, &week);
        assert_eq!(h.predicted_24h_usd.to_string(), "1.00");
        assert_eq!(h.basis, "at the rate of the last 7 days");
        // Registered 2 days ago, $1 earned: $0.50 a day.
        let h =
            history(EarningsPeriod::Day, now, now - 2 * DAY, &[Payment { at: now - 10, amount: 1_000_000, units: 0 }]);
        assert_eq!(h.predicted_24h_usd.to_string(), "0.50");
        // Registered a minute ago, 1 cent earned: the rate of an hour, not of a minute.
        let h = history(EarningsPeriod::Day, now, now - 60, &[Payment { at: now, amount: 10_000, units: 0 }]);
        assert_eq!(h.predicted_24h_usd.to_string(), "0.24");
        assert_eq!(h.basis, "at the rate of the last hour");
        let h = history(EarningsPeriod::Day, now, now - 60, &[]);
        assert_eq!(h.predicted_24h_usd.to_string(), "0.00");
        assert_eq!(h.basis, "no paid jobs in the last 7 days");
    }
}
