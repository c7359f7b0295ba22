//! The arguments of a `WSGIDaemonProcess` line (group name, then
//! `name=value` options, values possibly quoted): a spec or a
//! configuration error, never a panic. Goes straight to the option parser,
//! so the fuzzer need not find the directive name first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::config::daemon::DaemonProcessSpec;
use mod_wsgi_pure::config::words::split_with_options;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let words = split_with_options(&line, 1);
    if let Ok(spec) = DaemonProcessSpec::parse(&words) {
        let _ = spec.is_managed_mode();
        let _ = spec.process_title();
        let _ = spec.effective_eviction_timeout();
    }
});
