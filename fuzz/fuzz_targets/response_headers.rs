//! What an application (or a daemon's relayed response) passes as status
//! and headers: validation must accept or refuse with a message, and the
//! daemon header rules must keep their promises for any header list.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::daemon::header_scan::{relayed_headers, status_header};
use mod_wsgi_pure::wsgi::response::{
    bytes_repr, check_header_name, check_header_value, check_not_hop_by_hop, parse_status,
};

#[derive(Arbitrary, Debug)]
struct Input {
    status: Vec<u8>,
    raw_headers: Vec<(Vec<u8>, Vec<u8>)>,
    relayed: Vec<(String, String)>,
}

fuzz_target!(|input: Input| {
    if let Ok(code) = parse_status(&input.status) {
        // Three digits, read as they were written.
        assert!((0..1000).contains(&code));
        assert_eq!(format!("{code:03}").as_bytes(), &input.status[..3]);
    }
    // Shown in an error message: printable ASCII whatever the bytes.
    assert!(bytes_repr(&input.status)
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b)));
    for (name, value) in &input.raw_headers {
        if check_header_name(name).is_ok() {
            if let Ok(name) = std::str::from_utf8(name) {
                let _ = check_not_hop_by_hop(name);
            }
        }
        let _ = check_header_value(value);
    }

    let relayed = relayed_headers(&input.relayed);
    assert!(relayed
        .iter()
        .all(|(n, _)| !n.eq_ignore_ascii_case("status")));
    assert!(relayed.len() <= input.relayed.len());
    if let Some((code, _reason)) = status_header(&input.relayed) {
        assert!((100..=599).contains(&code));
    }
});
