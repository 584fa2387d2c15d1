//! cargo-fuzz target: keepalived notify FIFO lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = lbdeck::wire::keepalived::parse_fifo_line(line);
    }
});
