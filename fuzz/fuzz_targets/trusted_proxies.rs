//! Trusted proxy handling: `WSGITrustedProxies` entries (addresses and
//! networks, as configured) matched against peer addresses, and the
//! `X-Forwarded-For` chain a client sends, read by `environ::adjust`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::config::text::is_c_space;
use mod_wsgi_pure::wsgi::environ::{address_in, adjust, get, EnvironPolicy};
use std::net::IpAddr;

#[derive(Arbitrary, Debug)]
struct Input {
    address: IpAddr,
    prefix: u8,
    network: String,
    proxies: Vec<String>,
    peer: String,
    forwarded_for: String,
}

fuzz_target!(|input: Input| {
    let address = input.address;
    // Any configured entry: a yes or a no.
    let _ = address_in(address, &input.network);
    // An address lies in itself and in every network built around it.
    assert!(address_in(address, &address.to_string()));
    assert!(address_in(address, &format!("{address}/{}", input.prefix)));

    let headers = ["X-Forwarded-For".to_string()];
    let policy = EnvironPolicy {
        trusted_proxies: Some(&input.proxies),
        trusted_headers: &headers,
        ..EnvironPolicy::default()
    };
    let vars = vec![
        ("REMOTE_ADDR".into(), input.peer.as_str().into()),
        (
            "HTTP_X_FORWARDED_FOR".into(),
            input.forwarded_for.as_str().into(),
        ),
    ];
    let adjusted = adjust(vars, &policy);
    let get = |key: &str| get(&adjusted.vars, key).map(str::to_string);
    // Hops are trimmed of C white space only, as the C module trims them.
    let hops: Vec<&str> = input
        .forwarded_for
        .split(',')
        .map(|hop| hop.trim_matches(is_c_space))
        .filter(|h| !h.is_empty())
        .collect();
    let remote = get("REMOTE_ADDR").expect("REMOTE_ADDR stays set");
    // The client address is the peer or one of the hops it vouched for,
    // and the list passed on is a tail of the one sent.
    assert!(remote == input.peer || hops.contains(&remote.as_str()));
    if let Some(list) = get("HTTP_X_FORWARDED_FOR") {
        if remote != input.peer || list != input.forwarded_for {
            assert!(hops.join(", ").ends_with(&list));
        }
    }
});
