//! The servers of the configuration (the main server and its virtual
//! hosts) and this module's configuration on each.

use super::{c_str, commands::module_config, ffi};
use crate::config::ServerConfig;

/// This module's configuration of server `s`.
///
/// # Safety
/// `s` is a live server_rec.
pub unsafe fn server_config<'a>(s: *const ffi::server_rec) -> &'a ServerConfig {
    // SAFETY: every server has our config slot, created by Apache.
    unsafe { &*module_config::<ServerConfig>((*s).module_config) }
}

/// The configuration of the main server and of every virtual host.
///
/// # Safety
/// `s` is the main server; its `next` chain lists the virtual hosts.
pub unsafe fn all_server_configs<'a>(s: *mut ffi::server_rec) -> Vec<&'a ServerConfig> {
    // SAFETY: per the contract.
    unsafe { all_servers(s) }
        .into_iter()
        .map(|server| server.config)
        .collect()
}

/// One server of the configuration: the main server or a virtual host.
pub struct ConfiguredServer<'a> {
    pub config: &'a ServerConfig,
    /// Its `ServerName` (empty when unset).
    pub name: String,
    pub server: *mut ffi::server_rec,
}

/// Like `all_server_configs`, with each server's `ServerName` and record.
///
/// # Safety
/// `s` is the main server; its `next` chain lists the virtual hosts.
pub unsafe fn all_servers<'a>(s: *mut ffi::server_rec) -> Vec<ConfiguredServer<'a>> {
    let mut all = Vec::new();
    let mut server = s;
    while !server.is_null() {
        // SAFETY: each server in the chain has our configuration and a
        // (possibly NULL) host name.
        unsafe {
            let name = (*server).server_hostname;
            let name = if name.is_null() {
                String::new()
            } else {
                c_str(name).into_owned()
            };
            all.push(ConfiguredServer {
                config: server_config(server),
                name,
                server,
            });
            server = (*server).next;
        }
    }
    all
}
