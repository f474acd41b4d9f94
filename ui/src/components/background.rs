//! The background settings as typed (start at login, idle only, hours, power, temperature,
//! memory share, price floor): one form for the Settings page and the first-run set-up.

use gridmint_protocol::{ApiError, BackgroundSettings, ErrorCode, market::DEFAULT_JOBS_AT_ONCE};
use leptos::prelude::*;

use crate::{
    components::{NumberField, Toggle},
    money::{units_of_usd, usd_of_units},
};

/// The background settings as typed: the fields of the Settings page and of the first-run
/// set-up, read and checked when saved.
#[derive(Clone, Copy)]
pub struct BackgroundForm {
    pub login: RwSignal<bool>,
    pub idle: RwSignal<bool>,
    pub minutes: RwSignal<String>,
    pub from: RwSignal<String>,
    pub until: RwSignal<String>,
    pub ac: RwSignal<bool>,
    pub temp: RwSignal<String>,
    pub share: RwSignal<String>,
    pub others: RwSignal<bool>,
    /// Dollars per PFLOP (10^15 operations), as typed.
    pub floor: RwSignal<String>,
    /// Dollars per kWh, as typed; blank: the region's average.
    pub tariff: RwSignal<String>,
    /// Chosen on the Hardware page; carried through.
    pub device: RwSignal<Option<u32>>,
    pub jobs: RwSignal<String>,
}

impl BackgroundForm {
    pub fn new(current: &BackgroundSettings) -> Self {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            login: RwSignal::new(current.start_at_login),
            idle: RwSignal::new(current.earn_only_when_idle),
            minutes: RwSignal::new(current.idle_minutes.to_string()),
            from: RwSignal::new(opt(current.earn_from_hour.map(u32::from))),
            until: RwSignal::new(opt(current.earn_until_hour.map(u32::from))),
            ac: RwSignal::new(current.ac_power_only),
            temp: RwSignal::new(opt(current.max_gpu_temp_c)),
            share: RwSignal::new(current.gpu_memory_share_pct.to_string()),
            others: RwSignal::new(current.yield_to_other_programs),
            floor: RwSignal::new(usd_of_units(current.price_floor_per_unit)),
            tariff: RwSignal::new(current.electricity_usd_per_kwh.map(|t| t.to_string()).unwrap_or_default()),
            device: RwSignal::new(current.earning_device),
            jobs: RwSignal::new(current.jobs_at_once.to_string()),
        }
    }

    /// The settings, or what is wrong with a field (named).
    pub fn read(&self) -> Result<BackgroundSettings, ApiError> {
        let invalid = |message: String| ApiError::new(ErrorCode::InvalidInput, message);
        // A blank field is "no limit"; anything else must be a whole number.
        let number = |name: &str, text: String| -> Result<Option<u32>, ApiError> {
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u32>().map(Some).map_err(|_| invalid(format!("{name}: {text:?} is not a whole number")))
        };
        let hour = |name: &str, text: String| -> Result<Option<u8>, ApiError> {
            number(name, text)?
                .map(|h| u8::try_from(h).map_err(|_| invalid(format!("{name}: {h} is not an hour"))))
                .transpose()
        };
        let idle_minutes =
            number("idle minutes", self.minutes.get())?.ok_or_else(|| invalid("idle minutes: required".into()))?;
        let share = number("memory share", self.share.get())?.unwrap_or(100);
        let jobs = number("jobs at a time", self.jobs.get())?.unwrap_or(u32::from(DEFAULT_JOBS_AT_ONCE));
        Ok(BackgroundSettings {
            start_at_login: self.login.get(),
            earn_only_when_idle: self.idle.get(),
            idle_minutes,
            earn_from_hour: hour("from hour", self.from.get())?,
            earn_until_hour: hour("until hour", self.until.get())?,
            ac_power_only: self.ac.get(),
            max_gpu_temp_c: number("temperature limit", self.temp.get())?,
            gpu_memory_share_pct: u8::try_from(share)
                .map_err(|_| invalid(format!("memory share: {share} % is too large")))?,
            yield_to_other_programs: self.others.get(),
            price_floor_per_unit: units_of_usd("price floor", &self.floor.get())?,
            electricity_usd_per_kwh: match self.tariff.get().trim() {
                "" => None,
                t => Some(gridmint_protocol::Usd::from_base_units(u128::from(units_of_usd("electricity tariff", t)?))),
            },
            earning_device: self.device.get(),
            jobs_at_once: u8::try_from(jobs).map_err(|_| invalid(format!("jobs at a time: {jobs} is too many")))?,
        })
    }
}

/// The fields of a [`BackgroundForm`].
#[component]
pub fn BackgroundFields(form: BackgroundForm) -> impl IntoView {
    view! {
        <Toggle testid="start-at-login" value=form.login>" Start Gridmint when I log in (to the tray)"</Toggle>
        <Toggle testid="earn-when-idle" value=form.idle>
            " Earn only while I'm away: start after "
            <NumberField testid="idle-minutes" value=form.minutes min=1 max=240 />
            " minutes without input; the GPU is handed back the moment I touch the keyboard or mouse"
        </Toggle>
        <div class="row-title limits">"Limits"</div>
        <label class="check">
            " Earn only from "
            <NumberField testid="earn-from" value=form.from min=0 max=23 placeholder="any" />
            ":00 until "
            <NumberField testid="earn-until" value=form.until min=0 max=23 placeholder="any" />
            ":00 (blank: any hour)"
        </label>
        <Toggle testid="ac-only" value=form.ac>" Only on AC power (stop on battery)"</Toggle>
        <Toggle testid="yield-to-others" value=form.others>
            " Give way when another program runs heavy work on the GPU (NVIDIA: seen through nvidia-smi)"
        </Toggle>
        <label class="check">
            " Stop while the GPU is at or above "
            <NumberField testid="max-temp" value=form.temp min=30 max=110 placeholder="none" />
            " °C"
        </label>
        <label class="check">
            " Let a job use at most "
            <NumberField testid="memory-share" value=form.share min=10 max=100 />
            " % of the GPU's memory"
        </label>
        <label class="check">
            " Hold at most "
            <NumberField testid="jobs-at-once" value=form.jobs min=1 max=64 />
            " jobs at a time (claimed and still to compute; the GPU runs one at a time)"
        </label>
        <label class="check">
            " Take only jobs paying at least $"
            <input class="price" data-testid="price-floor" prop:value=move || form.floor.get()
                on:input=move |ev| form.floor.set(event_target_value(&ev)) />
            " per PFLOP (10¹⁵ operations; $0.0278 pays an H100 $2.49 an hour)"
        </label>
        <label class="check">
            " Electricity costs me $"
            <input class="price" data-testid="electricity-tariff" placeholder="my region's average"
                prop:value=move || form.tariff.get() on:input=move |ev| form.tariff.set(event_target_value(&ev)) />
            " per kWh (earnings are shown net of it)"
        </label>
    }
}
