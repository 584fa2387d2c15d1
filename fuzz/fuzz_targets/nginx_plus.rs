//! cargo-fuzz target: NGINX Plus API upstream JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = lbdeck::wire::nginx_plus::parse_upstream(&text, "be_web");
});
