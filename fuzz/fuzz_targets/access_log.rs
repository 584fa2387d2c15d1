//! cargo-fuzz target: nginx access-log lines (default and combined formats) and log_format strings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    use lbdeck::config::log_format::{LogFormat, DEFAULT_FORMAT};
    use lbdeck::sources::access_log::parse_line;
    let formats = [DEFAULT_FORMAT, "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\""];
    for f in formats {
        if let Ok(fmt) = LogFormat::parse(f) {
            for line in text.lines() {
                let _ = parse_line(&fmt, line);
            }
        }
    }
    let _ = LogFormat::parse(&text);
});
