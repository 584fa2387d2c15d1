//! cargo-fuzz target: HAProxy `show servers state`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = lbdeck::wire::haproxy::parse_servers_state(&text);
});
