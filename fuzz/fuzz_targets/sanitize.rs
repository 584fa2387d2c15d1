//! cargo-fuzz target: the sanitiser: no control character or escape sequence survives it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let clean = lbdeck::text::sanitize(&text);
    assert!(
        !clean
            .chars()
            .any(|c| c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
        "control character passed: {clean:?}"
    );
    let _ = lbdeck::text::clip(&clean, 20);
});
