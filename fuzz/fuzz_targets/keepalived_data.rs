//! cargo-fuzz target: keepalived's text dump (builds without JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = lbdeck::wire::keepalived::parse_data(&text);
});
