//! What the controller benchmarks (`bench`, `scale`) read about processes, shared by both.

use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

/// User + system CPU time of process `pid` (all its threads).
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let (user, system) = process_cpu_split(pid)?;
    Ok(user + system)
}

/// User and system CPU time of process `pid` (all its threads), apart.
pub fn process_cpu_split(pid: u32) -> Result<(Duration, Duration)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))
    };
    // utime is field 14, stime field 15 (1-based); `fields[0]` is field 3.
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / clock_ticks() as f64);
    Ok((secs(ticks(11)?), secs(ticks(12)?)))
}

pub fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub hwm_kib: u64,
    pub rss_kib: u64,
}

pub fn process_memory(pid: u32) -> Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
