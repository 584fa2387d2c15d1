//! cargo-fuzz target: theme files: an error with a message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = lbdeck::config::parse_toml::<lbdeck::config::theme::ThemeFile>("t.toml", &text)
    {
        assert!(!e.message.is_empty());
    }
});
