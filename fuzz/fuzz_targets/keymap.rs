//! cargo-fuzz target: keymaps: an error with a message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = lbdeck::app::keys::Keymap::parse("k.toml", &text) {
        assert!(!e.message.is_empty());
    }
});
