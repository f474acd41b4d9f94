//! The owner's background settings (start at login, earn only while idle), kept in
//! `<data>/settings.json` so that the app applies them again at every start.

use std::path::PathBuf;

use gridmint_protocol::{BackgroundSettings, NetworkSettings};

use crate::{NodeError, Paths};

fn file(paths: &Paths) -> PathBuf {
    paths.data.join("settings.json")
}

/// The stored settings, and whether there were any (false on a first run: the defaults).
pub fn load(paths: &Paths) -> Result<(BackgroundSettings, bool), NodeError> {
    let path = file(paths);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let settings = serde_json::from_slice(&bytes).map_err(|e| NodeError::InvalidRequest {
                message: format!("{}: not valid settings ({e}); delete it to start from the defaults", path.display()),
            })?;
            Ok((settings, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((BackgroundSettings::default(), false)),
        Err(source) => Err(NodeError::Io { what: "reading", path, source }),
    }
}

/// Checks and stores `settings` (written to a temporary file, then renamed: never half-written).
pub fn store(paths: &Paths, settings: &BackgroundSettings) -> Result<(), NodeError> {
    if !(1..=240).contains(&settings.idle_minutes) {
        return Err(NodeError::InvalidRequest {
            message: format!("idle minutes: {} is outside 1..=240", settings.idle_minutes),
        });
    }
    let bad = |message: String| Err(NodeError::InvalidRequest { message });
    for (name, hour) in [("earn from hour", settings.earn_from_hour), ("earn until hour", settings.earn_until_hour)] {
        if let Some(h) = hour.filter(|h| *h > 23) {
            return bad(format!("{name}: {h} is not an hour of the day (0..=23)"));
        }
    }
    if settings.earn_from_hour.is_some() != settings.earn_until_hour.is_some() {
        return bad("earning hours: give both the first and the last hour, or neither".into());
    }
    if let Some(t) = settings.max_gpu_temp_c.filter(|t| !(30..=110).contains(t)) {
        return bad(format!("GPU temperature limit: {t} °C is outside 30..=110"));
    }
    if !(1..=64).contains(&settings.jobs_at_once) {
        return bad(format!("jobs at a time: {} is outside 1..=64", settings.jobs_at_once));
    }
    if !(10..=100).contains(&settings.gpu_memory_share_pct) {
        return bad(format!("GPU memory share: {} % is outside 10..=100", settings.gpu_memory_share_pct));
    }
    // No household pays more than a few dollars a kWh: a typo (cents for dollars) would show
    // every job as a loss.
    if let Some(t) = settings.electricity_usd_per_kwh.filter(|t| t.base_units() > 5_000_000) {
        return bad(format!("electricity tariff: ${t} per kWh is over $5"));
    }
    crate::paths::write_json(&file(paths), settings).map_err(NodeError::from)
}

fn network_file(paths: &Paths) -> PathBuf {
    paths.data.join("network.json")
}

/// The network stored for this start (the local one when none was).
pub fn load_network(paths: &Paths) -> Result<NetworkSettings, NodeError> {
    let path = network_file(paths);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NodeError::InvalidRequest {
            message: format!(
                "{}: not valid network settings ({e}); delete it to use the local network",
                path.display()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NetworkSettings::default()),
        Err(source) => Err(NodeError::Io { what: "reading", path, source }),
    }
}

/// Checks `settings` (the RPC URL parses, the deployment file reads as one) and stores them for
/// the next start; never half-written.
pub fn store_network(paths: &Paths, settings: &NetworkSettings) -> Result<(), NodeError> {
    if let Some(custom) = &settings.custom {
        let url = custom.rpc_url.trim();
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("http" | "https" | "ws" | "wss")) || url.len() <= "http://".len() {
            return Err(NodeError::InvalidRequest {
                message: format!("RPC URL {url:?}: expected http(s):// or ws(s):// and a host"),
            });
        }
        let file = PathBuf::from(custom.deployment_file.trim());
        gridmint_chain::Deployment::load(&file)
            .map_err(|e| NodeError::InvalidRequest { message: format!("deployment file: {e}") })?;
        if let Some(code) = &custom.trusted_market_code {
            fingerprint(code)?;
        }
    }
    crate::paths::write_json(&network_file(paths), settings).map_err(NodeError::from)
}

/// A market code fingerprint as the window sends it (0x-hex of 32 bytes).
pub fn fingerprint(text: &str) -> Result<alloy::primitives::B256, NodeError> {
    text.trim().parse().map_err(|_| NodeError::InvalidRequest {
        message: format!("market code fingerprint {text:?}: expected 0x and 64 hex digits"),
    })
}

/// Records that the owner trusts the market code of fingerprint `seen` on its stored network
/// (the one the agent found untrusted, confirmed in the window); joined at the next start.
pub fn trust_market(paths: &Paths, seen: alloy::primitives::B256) -> Result<NetworkSettings, NodeError> {
    let mut settings = load_network(paths)?;
    let Some(custom) = settings.custom.as_mut() else {
        return Err(NodeError::InvalidRequest {
            message: "the app is on its local network, whose market is always this app's build".into(),
        });
    };
    custom.trusted_market_code = Some(seen.to_string());
    store_network(paths, &settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_on_a_first_run_then_what_was_stored_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(dir.path());
        let (first, stored) = load(&paths).expect("load");
        assert!(!stored, "a first run");
        assert_eq!(first, BackgroundSettings::default());
        let mine = BackgroundSettings {
            start_at_login: false,
            earn_only_when_idle: true,
            idle_minutes: 3,
            earn_from_hour: Some(22),
            earn_until_hour: Some(7),
            ac_power_only: true,
            max_gpu_temp_c: Some(80),
            gpu_memory_share_pct: 50,
            yield_to_other_programs: false,
            electricity_usd_per_kwh: Some("0.31".parse().expect("usd")),
            price_floor_per_unit: 2500,
            earning_device: Some(1),
            jobs_at_once: 2,
        };
        store(&paths, &mine).expect("store");
        assert_eq!(load(&paths).expect("load"), (mine, true));
        // A file from before the price floor: read, with no floor.
        let older = r#"{"startAtLogin":false,"earnOnlyWhenIdle":false,"idleMinutes":10}"#;
        std::fs::write(paths.data.join("settings.json"), older).expect("write");
        assert_eq!(load(&paths).expect("load").0.price_floor_per_unit, 0);
        assert_eq!(load(&paths).expect("load").0.jobs_at_once, 4, "and the default jobs at a time");
        store(&paths, &mine).expect("store");
        let err = store(&paths, &BackgroundSettings { idle_minutes: 0, ..mine }).expect_err("0 minutes");
        assert!(err.to_string().contains("idle minutes: 0"), "{err}");
        assert_eq!(load(&paths).expect("load").0, mine, "a refused value changes nothing");
        for (bad, says) in [
            (BackgroundSettings { earn_from_hour: Some(24), ..mine }, "earn from hour: 24"),
            (BackgroundSettings { earn_until_hour: None, ..mine }, "both the first and the last hour"),
            (BackgroundSettings { max_gpu_temp_c: Some(200), ..mine }, "200 °C"),
            (
                BackgroundSettings { electricity_usd_per_kwh: Some("30".parse().expect("usd")), ..mine },
                "$30.00 per kWh",
            ),
            (BackgroundSettings { gpu_memory_share_pct: 5, ..mine }, "5 %"),
            (BackgroundSettings { jobs_at_once: 0, ..mine }, "jobs at a time: 0"),
            (BackgroundSettings { jobs_at_once: 65, ..mine }, "jobs at a time: 65"),
        ] {
            let err = store(&paths, &bad).expect_err(says);
            assert!(err.to_string().contains(says), "{err}");
        }
        std::fs::write(paths.data.join("settings.json"), b"{ broken").expect("write");
        let err = load(&paths).expect_err("broken file");
        assert!(err.to_string().contains("settings.json"), "the error names the file: {err}");
    }

    #[test]
    fn a_custom_network_is_stored_only_with_an_rpc_url_and_a_deployment_that_reads() {
        use gridmint_protocol::CustomNetwork;
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(dir.path());
        assert_eq!(load_network(&paths).expect("load"), NetworkSettings::default(), "local by default");
        let deployment = dir.path().join("deployment.json");
        let custom = |rpc: &str, file: &std::path::Path| NetworkSettings {
            custom: Some(CustomNetwork {
                rpc_url: rpc.into(),
                deployment_file: file.display().to_string(),
                trusted_market_code: None,
            }),
            region: "eu-north".parse().expect("a region"),
        };
        let err = store_network(&paths, &custom("localhost:8545", &deployment)).expect_err("no scheme");
        assert!(err.to_string().contains("localhost:8545"), "{err}");
        let err = store_network(&paths, &custom("http://localhost:8545", &deployment)).expect_err("no file");
        assert!(err.to_string().contains("deployment.json"), "the error names the file: {err}");
        std::fs::write(&deployment, "{\"chainId\": 1}").expect("write");
        let err = store_network(&paths, &custom("http://localhost:8545", &deployment)).expect_err("incomplete");
        assert!(err.to_string().contains("deployment.json"), "{err}");
        let a = "0x0000000000000000000000000000000000000001";
        let json =
            format!(r#"{{"chainId":31337,"startBlock":0,"market":"{a}","paymentToken":"{a}","stakeToken":"{a}"}}"#);
        std::fs::write(&deployment, json).expect("write");
        let good = custom("https://rpc.example.org", &deployment);
        store_network(&paths, &good).expect("a good custom network is stored");
        assert_eq!(load_network(&paths).expect("load"), good);
        assert!(!load(&paths).expect("load").1, "the network file is not the settings file");

        // Trusting the market code the agent found untrusted: exactly that fingerprint is kept.
        let seen = alloy::primitives::B256::repeat_byte(0xab);
        let trusted = trust_market(&paths, seen).expect("trusted");
        let code = trusted.custom.as_ref().and_then(|c| c.trusted_market_code.clone());
        assert_eq!(code.as_deref().map(fingerprint).transpose().expect("parses"), Some(seen));
        assert_eq!(load_network(&paths).expect("load"), trusted, "stored for the next start");
        let mut bad = trusted.clone();
        bad.custom.as_mut().expect("custom").trusted_market_code = Some("0xnothex".into());
        let err = store_network(&paths, &bad).expect_err("not a fingerprint");
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        store_network(&paths, &NetworkSettings::default()).expect("back to local");
        let err = trust_market(&paths, seen).expect_err("nothing to trust on the local network");
        assert!(err.to_string().contains("local network"), "{err}");
    }
}
