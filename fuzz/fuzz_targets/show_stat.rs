//! cargo-fuzz target: HAProxy `show stat` CSV (runtime API and stats page).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(rows) = lbdeck::wire::haproxy::parse_stat(&text) {
        for r in rows {
            assert!(!lbdeck::text::sanitize(&r.svname).contains('\x1b'));
        }
    }
});
