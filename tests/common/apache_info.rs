//! Facts about the Apache binary under test, read once from `apache2 -v`:
//! its version as a (major, minor, patch) triple and its build date, for
//! comparing with what the module reports to Python.
//!
//! Only std is used.

#![allow(dead_code)]

use std::process::Command;
use std::sync::OnceLock;

pub struct ApacheInfo {
    /// (2, 4, 58) from "Server version: Apache/2.4.58 (Debian)".
    pub version: (u32, u32, u32),
    /// The text after "Server built:", trimmed.
    pub built: String,
}

pub fn apache_info() -> &'static ApacheInfo {
    static INFO: OnceLock<ApacheInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let out = Command::new(super::apache_bin())
            .arg("-v")
            .output()
            .expect("run apache2 -v");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        parse(&text).unwrap_or_else(|| panic!("unexpected `apache2 -v` output: {text:?}"))
    })
}

fn parse(text: &str) -> Option<ApacheInfo> {
    let mut version = None;
    let mut built = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Server version:") {
            let number = rest.trim().strip_prefix("Apache/")?;
            let number = number.split_whitespace().next()?;
            let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
            version = Some((parts.next()??, parts.next()??, parts.next()??));
        } else if let Some(rest) = line.strip_prefix("Server built:") {
            built = Some(rest.trim().to_string());
        }
    }
    Some(ApacheInfo {
        version: version?,
        built: built?,
    })
}
