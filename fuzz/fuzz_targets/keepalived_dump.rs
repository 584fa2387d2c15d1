//! cargo-fuzz target: keepalived's JSON dump (and `ip -j addr` for the VIP).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = lbdeck::wire::keepalived::parse_dump(&text);
    let _ = lbdeck::wire::keepalived::vip_in_addr_json(&text, "10.77.0.100");
});
