//! The owner's limits on earning: hours of the day, AC power only, a GPU temperature ceiling,
//! and giving way to other programs' GPU work. [`blocked`] says whether (and why) work must stop
//! now; [`Sensors`] reads this machine's power supply and GPU temperature from sysfs (hwmon) or
//! `nvidia-smi`, and other processes' compute work from `nvidia-smi`.

use std::path::Path;

use gridmint_protocol::BackgroundSettings;

/// What the machine reports now; `None` where it cannot tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// Local hour of the day, 0..=23.
    pub hour: u8,
    /// On mains power (`None`: no power-supply information, as on most Linux desktops).
    pub on_ac: Option<bool>,
    /// The hottest GPU, in °C.
    pub gpu_temp_c: Option<f32>,
    /// Another program's compute work on the GPU ("name (pid N, M MiB)"), if any.
    pub other_program: Option<String>,
}

/// Why work must stop now under `settings`, or `None` when it may run.
pub fn blocked(settings: &BackgroundSettings, now: Readings) -> Option<String> {
    if let (Some(from), Some(until)) = (settings.earn_from_hour, settings.earn_until_hour) {
        let inside =
            if from <= until { (from..until).contains(&now.hour) } else { now.hour >= from || now.hour < until };
        if from != until && !inside {
            return Some(format!("outside the earning hours ({from:02}:00–{until:02}:00)"));
        }
    }
    if settings.ac_power_only && now.on_ac == Some(false) {
        return Some("on battery".to_owned());
    }
    if let (Some(max), Some(t)) = (settings.max_gpu_temp_c, now.gpu_temp_c)
        && t >= max as f32
    {
        return Some(format!("GPU at {t:.0} °C (limit {max} °C)"));
    }
    if settings.yield_to_other_programs
        && let Some(other) = &now.other_program
    {
        return Some(format!("{other} is using the GPU"));
    }
    None
}

/// Reads the machine's power supply and GPU temperature.
#[derive(Debug, Clone)]
pub struct Sensors {
    sys: std::path::PathBuf,
    nvidia_smi: std::path::PathBuf,
}

impl Default for Sensors {
    fn default() -> Self {
        Self { sys: "/sys".into(), nvidia_smi: "nvidia-smi".into() }
    }
}

/// Other programs' GPU memory below this is not heavy work (a desktop compositor, a browser).
const HEAVY_MIB: u64 = 256;

impl Sensors {
    /// Sensors under another sysfs root and with another `nvidia-smi` (tests).
    pub fn under(sys: &Path, nvidia_smi: &Path) -> Self {
        Self { sys: sys.to_owned(), nvidia_smi: nvidia_smi.to_owned() }
    }

    /// What `settings` needs to know now, and nothing more: each nvidia-smi query is a process.
    pub fn read_for(&self, settings: &BackgroundSettings) -> Readings {
        use chrono::Timelike;
        Readings {
            hour: chrono::Local::now().hour() as u8,
            on_ac: if settings.ac_power_only { self.on_ac() } else { None },
            gpu_temp_c: if settings.max_gpu_temp_c.is_some() { self.gpu_temp_c() } else { None },
            other_program: if settings.yield_to_other_programs { self.other_program() } else { None },
        }
    }

    /// Another process's compute work on an NVIDIA GPU with at least 256 MiB of memory
    /// (`nvidia-smi --query-compute-apps`); `None` without one, or without nvidia-smi.
    pub fn other_program(&self) -> Option<String> {
        let out = crate::console_program(&self.nvidia_smi)
            .args(["--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits"])
            .output()
            .ok()?;
        let me = std::process::id();
        String::from_utf8_lossy(&out.stdout).lines().find_map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let pid: u32 = fields.next()?.parse().ok()?;
            let name = fields.next()?.to_owned();
            let mib: u64 = fields.next()?.parse().ok()?;
            (pid != me && mib >= HEAVY_MIB).then(|| format!("{name} (pid {pid}, {mib} MiB)"))
        })
    }

    /// Mains online per `class/power_supply/*/{type,online}` (on Windows `GetSystemPowerStatus`);
    /// `None` without a mains supply, or where the system does not know.
    pub fn on_ac(&self) -> Option<bool> {
        #[cfg(windows)]
        return windows_on_ac();
        #[cfg(not(windows))]
        self.sysfs_on_ac()
    }

    #[cfg_attr(windows, allow(dead_code))]
    fn sysfs_on_ac(&self) -> Option<bool> {
        let entries = std::fs::read_dir(self.sys.join("class/power_supply")).ok()?;
        let mut mains = None;
        for entry in entries.flatten() {
            let dir = entry.path();
            let kind = std::fs::read_to_string(dir.join("type")).unwrap_or_default();
            if kind.trim() == "Mains" {
                let online = std::fs::read_to_string(dir.join("online")).unwrap_or_default();
                mains = Some(mains.unwrap_or(false) || online.trim() == "1");
            }
        }
        mains
    }

    /// The busiest GPU's utilisation, %: `class/drm/card*/device/gpu_busy_percent` (amdgpu,
    /// i915 with xe), else `nvidia-smi`; `None` where neither reports one.
    pub fn gpu_busy_pct(&self) -> Option<u32> {
        let sysfs = self.card_devices().iter().filter_map(|d| read_number::<u32>(&d.join("gpu_busy_percent"))).max();
        sysfs.or_else(|| self.nvidia_gpus::<u32>("utilization.gpu").into_iter().max())
    }

    /// The hottest GPU: `class/drm/card*/device/hwmon/hwmon*/temp1_input` (amdgpu, nouveau,
    /// i915), else `nvidia-smi` (the NVIDIA driver exposes no hwmon).
    pub fn gpu_temp_c(&self) -> Option<f32> {
        let sysfs = self
            .card_devices()
            .iter()
            .filter_map(|d| std::fs::read_dir(d.join("hwmon")).ok())
            .flat_map(|hwmons| hwmons.flatten().map(|h| h.path().join("temp1_input")))
            .filter_map(|input| read_number::<f32>(&input).map(|milli| milli / 1000.0))
            .reduce(f32::max);
        sysfs.or_else(|| self.nvidia_gpus::<f32>("temperature.gpu").into_iter().reduce(f32::max))
    }

    /// The most power-hungry GPU's draw, watts: `class/drm/card*/device/hwmon/hwmon*/power1_average`
    /// (or `power1_input`; microwatts: amdgpu), else `nvidia-smi`'s `power.draw`; `None` where
    /// neither reports one (llvmpipe, most integrated GPUs).
    pub fn gpu_power_w(&self) -> Option<f32> {
        let sysfs = self
            .card_devices()
            .iter()
            .filter_map(|d| std::fs::read_dir(d.join("hwmon")).ok())
            .flat_map(|hwmons| hwmons.flatten().map(|h| h.path()))
            .filter_map(|h| {
                read_number::<f32>(&h.join("power1_average")).or_else(|| read_number(&h.join("power1_input")))
            })
            .map(|micro| micro / 1e6)
            .reduce(f32::max);
        sysfs.or_else(|| self.nvidia_gpus::<f32>("power.draw").into_iter().reduce(f32::max))
    }

    /// `class/drm/card*/device` of each card sysfs lists.
    fn card_devices(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(self.sys.join("class/drm"))
            .map(|cards| cards.flatten().map(|card| card.path().join("device")).collect())
            .unwrap_or_default()
    }

    /// One value of `field` per GPU from `nvidia-smi`; none without it.
    fn nvidia_gpus<T: std::str::FromStr>(&self, field: &str) -> Vec<T> {
        let query = format!("--query-gpu={field}");
        let Ok(out) =
            crate::console_program(&self.nvidia_smi).args([query.as_str(), "--format=csv,noheader,nounits"]).output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
    }
}

/// The AC line's status from Windows: 0 offline, 1 online, 255 unknown.
#[cfg(windows)]
fn windows_on_ac() -> Option<bool> {
    use windows_sys::Win32::System::Power::{GetSystemPowerStatus, SYSTEM_POWER_STATUS};
    let mut status = SYSTEM_POWER_STATUS {
        ACLineStatus: 0,
        BatteryFlag: 0,
        BatteryLifePercent: 0,
        SystemStatusFlag: 0,
        BatteryLifeTime: 0,
        BatteryFullLifeTime: 0,
    };
    // SAFETY: `status` is a valid SYSTEM_POWER_STATUS for the call to fill.
    if unsafe { GetSystemPowerStatus(&mut status) } == 0 {
        return None;
    }
    match status.ACLineStatus {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// A sysfs file holding one number.
fn read_number<T: std::str::FromStr>(path: &Path) -> Option<T> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BackgroundSettings {
        BackgroundSettings::default()
    }

    const FREE: Readings = Readings { hour: 12, on_ac: None, gpu_temp_c: None, other_program: None };

    #[test]
    fn hours_power_and_temperature_each_block_with_a_reason() {
        assert_eq!(blocked(&settings(), FREE), None, "no limits: runs");
        let night = BackgroundSettings { earn_from_hour: Some(22), earn_until_hour: Some(7), ..settings() };
        assert_eq!(blocked(&night, Readings { hour: 23, ..FREE }), None, "inside a window across midnight");
        assert_eq!(blocked(&night, Readings { hour: 3, ..FREE }), None);
        let reason = blocked(&night, Readings { hour: 12, ..FREE }).expect("blocked at noon");
        assert!(reason.contains("22:00–07:00"), "{reason}");
        let day = BackgroundSettings { earn_from_hour: Some(9), earn_until_hour: Some(17), ..settings() };
        assert!(blocked(&day, Readings { hour: 17, ..FREE }).is_some(), "the end hour is outside");
        let ac = BackgroundSettings { ac_power_only: true, ..settings() };
        assert_eq!(blocked(&ac, Readings { on_ac: Some(false), ..FREE }).as_deref(), Some("on battery"));
        assert_eq!(blocked(&ac, Readings { on_ac: None, ..FREE }), None, "no battery: a desktop on mains");
        let hot = BackgroundSettings { max_gpu_temp_c: Some(80), ..settings() };
        assert!(blocked(&hot, Readings { gpu_temp_c: Some(83.0), ..FREE }).expect("too hot").contains("83"));
        assert_eq!(blocked(&hot, Readings { gpu_temp_c: Some(70.0), ..FREE }), None);
        let busy = Readings { other_program: Some("blender (pid 7, 4096 MiB)".into()), ..FREE };
        let reason = blocked(&settings(), busy.clone()).expect("another program's work holds by default");
        assert!(reason.contains("blender"), "{reason}");
        let greedy = BackgroundSettings { yield_to_other_programs: false, ..settings() };
        assert_eq!(blocked(&greedy, busy), None, "unless the owner says otherwise");
    }

    #[test]
    fn sensors_read_sysfs_power_supplies_and_hwmon() {
        let sys = tempfile::tempdir().expect("tempdir");
        let write = |p: &str, v: &str| {
            let path = sys.path().join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, v).expect("write");
        };
        let missing = sys.path().join("no-nvidia-smi");
        let sensors = Sensors::under(sys.path(), &missing);
        assert_eq!(sensors.on_ac(), None, "no power supply information");
        assert_eq!(sensors.gpu_temp_c(), None);
        assert_eq!(sensors.other_program(), None, "no nvidia-smi: nothing known");
        write("class/power_supply/BAT0/type", "Battery\n");
        write("class/power_supply/AC/type", "Mains\n");
        write("class/power_supply/AC/online", "0\n");
        assert_eq!(sensors.on_ac(), Some(false), "a laptop on battery");
        write("class/power_supply/AC/online", "1\n");
        assert_eq!(sensors.on_ac(), Some(true));
        write("class/drm/card0/device/hwmon/hwmon3/temp1_input", "61000\n");
        write("class/drm/card1/device/hwmon/hwmon4/temp1_input", "74500\n");
        assert_eq!(sensors.gpu_temp_c(), Some(74.5), "the hottest GPU");
        assert_eq!(sensors.gpu_busy_pct(), None, "no utilisation reported");
        write("class/drm/card0/device/gpu_busy_percent", "12\n");
        write("class/drm/card1/device/gpu_busy_percent", "87\n");
        assert_eq!(sensors.gpu_busy_pct(), Some(87), "the busiest GPU");
        assert_eq!(sensors.gpu_power_w(), None, "no power reported");
        write("class/drm/card0/device/hwmon/hwmon3/power1_average", "212000000\n");
        write("class/drm/card1/device/hwmon/hwmon4/power1_input", "35500000\n");
        assert_eq!(sensors.gpu_power_w(), Some(212.0), "the most power-hungry GPU, from microwatts");
    }

    /// A stand-in `nvidia-smi` that prints what the real one prints for compute apps.
    #[cfg(unix)]
    #[test]
    fn other_programs_heavy_compute_work_is_seen_through_nvidia_smi() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let smi = dir.path().join("nvidia-smi");
        let me = std::process::id();
        let script = |rows: &str| {
            std::fs::write(&smi, format!("#!/bin/sh\nprintf '{rows}'\n")).expect("write");
            std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        let sensors = Sensors::under(dir.path(), &smi);
        script(&format!("{me}, gridmint, 9000\\n"));
        assert_eq!(sensors.other_program(), None, "our own work is not another program's");
        script("4242, Xorg, 120\\n");
        assert_eq!(sensors.other_program(), None, "a compositor's few MiB are not heavy work");
        script(&format!("{me}, gridmint, 9000\\n4243, python3, 10240\\n"));
        assert_eq!(sensors.other_program().as_deref(), Some("python3 (pid 4243, 10240 MiB)"));
        // The same tool's power query (one row per GPU, watts).
        script("312.45\\n95.10\\n");
        assert_eq!(sensors.gpu_power_w(), Some(312.45));
    }
}
