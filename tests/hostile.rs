//! Hostile input: every parser takes arbitrary text (and mutated real captures) without
//! panicking; configuration parsers answer with an error, never a crash. A short pass runs
//! in CI; raise PROPTEST_CASES for a long one.

use proptest::prelude::*;

use lbdeck::app::keys::Keymap;
use lbdeck::config::log_format::{LogFormat, DEFAULT_FORMAT};
use lbdeck::config::profile::Profile;
use lbdeck::sources::access_log;
use lbdeck::wire::{haproxy, keepalived, nginx, nginx_plus};

const STAT: &str = include_str!("fixtures/haproxy/show_stat_mixed.csv");
const INFO: &str = include_str!("fixtures/haproxy/show_info.txt");
const STATE: &str = include_str!("fixtures/haproxy/show_servers_state_mixed.txt");
const STUB: &str = include_str!("fixtures/nginx/stub_status.txt");
const DUMP: &str = include_str!("fixtures/keepalived/dump_master.json");
const DATA: &str = include_str!("fixtures/keepalived/data_two_instances.txt");
const FIFO: &str = include_str!("fixtures/keepalived/fifo_failover_lb1.txt");
const NOTIFY_LOG: &str = include_str!("fixtures/keepalived/notify_log_lb1.jsonl");
const MONITOR: &str = include_str!("fixtures/ip/monitor_lb2.txt");
const LOG: &str = include_str!("fixtures/nginx/access_lbdeck.log");
const PLUS: &str = include_str!("fixtures/nginx_plus/upstreams.json");
const PROFILE: &str = include_str!("../profiles/lab.toml");

/// A real capture with a byte range replaced by arbitrary text.
fn mutate(base: &'static str) -> impl Strategy<Value = String> {
    (0..=base.len(), 0..64usize, ".{0,64}").prop_map(move |(at, len, junk)| {
        let mut at = at;
        while !base.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(base.len());
        while !base.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{}{}", &base[..at], junk, &base[end..])
    })
}

fn all_parsers(text: &str) {
    let _ = nginx::parse(text);
    let _ = haproxy::parse_stat(text);
    let _ = haproxy::parse_info(text);
    let _ = haproxy::parse_servers_state(text);
    let _ = keepalived::parse_dump(text);
    let _ = keepalived::parse_data(text);
    let _ = nginx_plus::parse_upstream(text, "be_web");
    let _ = keepalived::vip_in_addr_json(text, "10.77.0.100");
    let fmt = LogFormat::parse(DEFAULT_FORMAT).expect("format");
    for line in text.lines() {
        let _ = keepalived::parse_fifo_line(line);
        let _ = keepalived::parse_notify_log_line(line);
        let _ = keepalived::parse_monitor_line(line);
        let _ = access_log::parse_line(&fmt, line);
    }
    let _ = LogFormat::parse(text);
    let _ = lbdeck::text::sanitize(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        all_parsers(&text);
    }

    #[test]
    fn mutated_captures_never_panic(
        text in prop_oneof![mutate(STAT), mutate(INFO), mutate(STATE), mutate(STUB), mutate(DUMP),
                            mutate(DATA), mutate(FIFO), mutate(NOTIFY_LOG), mutate(MONITOR), mutate(LOG),
                            mutate(PLUS)]
    ) {
        all_parsers(&text);
    }

    #[test]
    fn broken_profiles_and_keymaps_are_errors_not_panics(text in mutate(PROFILE), keys in "(?s).{0,200}") {
        if let Err(e) = Profile::parse("p.toml", &text) {
            prop_assert!(!e.message.is_empty());
            prop_assert!(!e.to_string().contains('\n'), "one line: {}", e);
        }
        let _ = Keymap::parse("k.toml", &keys);
    }

    #[test]
    fn remote_text_never_reaches_the_terminal_raw(text in "(?s).{0,200}") {
        let clean = lbdeck::text::sanitize(&text);
        prop_assert!(!clean.chars().any(|c| c.is_control()));
    }
}
