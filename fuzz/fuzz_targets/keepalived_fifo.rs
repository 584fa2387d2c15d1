//! cargo-fuzz target: keepalived's notifications, as notify FIFO lines and as the notify
//! log's JSON lines (contrib/lbdeck-notify).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = lbdeck::wire::keepalived::parse_fifo_line(line);
        let _ = lbdeck::wire::keepalived::parse_notify_log_line(line);
    }
});
