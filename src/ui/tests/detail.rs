//! The detail view: HAProxy, nginx and NGINX Plus pairs, large and tiny terminals.

use std::time::{Duration, Instant};

use chrono::TimeZone;

use super::{fixed_app, render, screen};
use crate::action::Action;
use crate::app::tests::app_from;
use crate::app::{App, Mode};
use crate::sources::{BalancerSample, SourceUpdate};
use crate::wire::health::Probe;
use crate::wire::{haproxy, nginx, upstream};

/// A poll of the captured pair where web1 is MAINT, web2 DRAIN and web3 DOWN, with
/// `show servers state`.
fn mixed() -> BalancerSample {
    BalancerSample::Haproxy {
        info: None,
        stats: haproxy::parse_stat(include_str!(
            "../../../tests/fixtures/haproxy/show_stat_mixed.csv"
        ))
        .expect("csv"),
        admin: Some(
            haproxy::parse_servers_state(include_str!(
                "../../../tests/fixtures/haproxy/show_servers_state_mixed.txt"
            ))
            .expect("state"),
        ),
        access: None,
    }
}

/// The HAProxy pair of the other screens, then both balancers read with `show servers
/// state` too (lb2 sees web2 drained: an event), and the detail of web2 open; and the
/// time of the first poll.
fn haproxy_detail() -> (App, Instant) {
    let (mut a, t0) = fixed_app();
    for index in 0..2 {
        a.update(Action::Update(SourceUpdate::Balancer {
            index,
            at: t0 + Duration::from_millis(400),
            result: Ok(mixed()),
        }));
    }
    a.update(Action::Down);
    a.update(Action::Detail);
    assert_eq!(a.ui.mode, Mode::Detail);
    (a, t0)
}

const NGINX: &str = r#"
name = "web"
environment = "staging"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "nginx"
access_log = "/var/log/nginx/access.log"
[[balancers]]
name = "lb2"
host = "10.77.0.12"
kind = "nginx"
access_log = "/var/log/nginx/access.log"
[[backends]]
name = "web1"
address = "10.77.0.21:80"
[[backends]]
name = "web2"
address = "10.77.0.22:80"
"#;

/// The upstream file of the nginx pair: web2 drained on lb2 only.
fn upstream_conf(web2_down: bool) -> String {
    format!(
        "# managed by hand\nupstream be_web {{\n    zone be_web 64k;\n    server 10.77.0.21:80 max_fails=1 fail_timeout=2s;\n    server 10.77.0.22:80 weight=2 max_fails=1{};\n}}\n",
        if web2_down { " down" } else { "" }
    )
}

/// An nginx pair: stub_status, access-log traffic and the upstream file on both
/// balancers, web2's detail open.
fn nginx_detail() -> App {
    let mut a = app_from(NGINX);
    let t0 = Instant::now();
    let wall = chrono::Local
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("time");
    a.set_clock(t0, wall);
    for index in 0..2 {
        a.update(Action::Update(SourceUpdate::Balancer {
            index,
            at: t0,
            result: Ok(BalancerSample::Nginx(
                nginx::parse("Active connections: 3 \nserver accepts handled requests\n 10 10 40 \nReading: 0 Writing: 1 Waiting: 2 \n")
                    .expect("stub_status"),
            )),
        }));
        let text = upstream_conf(index == 1);
        for at in [t0, t0 + Duration::from_secs(1)] {
            a.update(Action::Update(SourceUpdate::Upstream {
                index,
                at,
                result: Ok(upstream::UpstreamRead {
                    file: "/etc/nginx/conf.d/upstream.conf".into(),
                    servers: upstream::servers(&text, "be_web").expect("servers"),
                }),
            }));
        }
        a.update(Action::Update(SourceUpdate::Traffic {
            index,
            at: t0,
            lines: None,
            result: Ok(vec![crate::sources::access_log::BackendTraffic {
                addr: "10.77.0.22:80".into(),
                requests: 30,
                req_rate: 1.5,
                responses: [28, 1, 1],
                p50_ms: Some(12.0),
                ..Default::default()
            }]),
        }));
    }
    for index in 0..2 {
        a.update(Action::Update(SourceUpdate::Health {
            index,
            at: t0,
            result: Ok(Probe {
                status: 200,
                latency: Duration::from_millis(4),
            }),
        }));
    }
    a.update(Action::Tick(t0 + Duration::from_millis(1500)));
    a.update(Action::Down);
    a.update(Action::Detail);
    assert_eq!(a.ui.mode, Mode::Detail);
    a
}

/// The view of a HAProxy and an nginx pair at 80x24 and 40x10, one snapshot each.
#[test]
fn detail_snapshots() {
    for (kind, a) in [("haproxy", haproxy_detail().0), ("nginx", nginx_detail())] {
        for (w, h) in [(80, 24), (40, 10)] {
            insta::assert_snapshot!(format!("{kind}_detail_{w}x{h}"), render(&a, w, h).backend());
        }
    }
}

#[test]
fn the_view_scrolls_to_the_backends_events() {
    let (mut a, _) = haproxy_detail();
    let text = screen(&render(&a, 80, 24));
    assert!(!text.contains("recent events"), "{text}");
    a.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::End,
    )));
    let text = screen(&render(&a, 80, 24));
    assert!(text.contains("recent events (1 in all)"), "{text}");
    assert!(
        text.contains("12:00:00 warn  web2 UP → DRAIN on lb2 (L7OK)"),
        "the event with its level in words:\n{text}"
    );
    assert_eq!(a.ui.mode, Mode::Detail, "scrolling keeps the view open");
}

#[test]
fn the_view_follows_new_polls_and_says_when_a_balancer_stops_listing_the_backend() {
    let (mut a, t0) = haproxy_detail();
    let later = t0 + Duration::from_secs(2);
    let ok = haproxy::parse_stat(include_str!(
        "../../../tests/fixtures/haproxy/show_stat.csv"
    ))
    .expect("csv");
    let without_web2: Vec<_> = ok.iter().filter(|r| r.svname != "web2").cloned().collect();
    for (index, stats) in [(0, ok), (1, without_web2)] {
        a.update(Action::Update(SourceUpdate::Balancer {
            index,
            at: later,
            result: Ok(BalancerSample::Haproxy {
                info: None,
                stats,
                admin: None,
                access: None,
            }),
        }));
    }
    let text = screen(&render(&a, 80, 24));
    assert!(
        text.contains("│ lb1 · haproxy") && text.contains("state      UP"),
        "lb1's new poll shows:\n{text}"
    );
    assert!(
        text.contains("lb2 no longer lists web2: the values below are its last"),
        "{text}"
    );
}

#[test]
fn without_colour_the_view_reads_in_words() {
    use ratatui::style::Color;
    let mut a = nginx_detail();
    a.theme = a.theme.without_colour();
    let term = render(&a, 80, 24);
    let text = screen(&term);
    assert!(
        term.backend()
            .buffer()
            .content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "a colour under NO_COLOR"
    );
    for words in [
        "state      MAINT · set MAINT",
        "│   -    server 10.77.0.22:80 weight=2 max_fails=1 down;",
        "│   +    server 10.77.0.22:80 weight=2 max_fails=1;",
    ] {
        assert!(text.contains(words), "{words:?}:\n{text}");
    }
}

#[test]
fn nginx_plus_shows_what_its_api_gives() {
    let mut a = app_from(
        r#"
name = "plus"
[[balancers]]
name = "lb1"
host = "10.0.0.11"
kind = "nginx-plus"
status_url = "http://10.0.0.11:8080/api"
[[backends]]
name = "web3"
address = "10.0.0.23:80"
"#,
    );
    let t0 = Instant::now();
    let peers = crate::wire::nginx_plus::parse_upstream(
        include_str!("../../../tests/fixtures/nginx_plus/upstreams.json"),
        "be_web",
    )
    .expect("peers");
    a.update(Action::Update(SourceUpdate::Balancer {
        index: 0,
        at: t0,
        result: Ok(BalancerSample::Plus(peers)),
    }));
    a.update(Action::Detail);
    let text = screen(&render(&a, 80, 30));
    for words in [
        "state      DOWN (unhealthy) · set ready",
        "check      failed · checks 1820 · failed 120",
        "weight     1 now",
        "times      down 1m in total",
        "sessions   0 now",
        "requests   total 1200 · 2xx 1100 · 4xx 0 · 5xx 100",
        "errors     failed 40",
    ] {
        assert!(text.contains(words), "{words:?}:\n{text}");
    }
    assert!(
        !text.contains("bytes") && !text.contains("file "),
        "no HAProxy counter, no upstream file:\n{text}"
    );
}

#[test]
fn an_upstream_file_that_cannot_be_read_is_said_over_its_last_lines() {
    let mut a = nginx_detail();
    a.update(Action::Update(SourceUpdate::Upstream {
        index: 1,
        at: a.now,
        result: Err(crate::wire::FetchError(
            "lb2: reading /etc/nginx/conf.d/upstream.conf: Permission denied".into(),
        )),
    }));
    let text = screen(&render(&a, 120, 30));
    assert!(
        text.contains("lb2 · nginx · upstream file: lb2: reading /etc/nginx/conf.d/upstream.conf: Permission denied"),
        "{text}"
    );
    assert!(text.contains("an undrain (r) changes this line:"), "{text}");
}

#[test]
fn tiny_terminals_do_not_panic_in_the_detail() {
    let (mut a, _) = haproxy_detail();
    a.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::End,
    )));
    for w in [1, 2, 5, 20, 40] {
        for h in [1, 2, 3, 5, 10] {
            let text = screen(&render(&a, w, h));
            assert_eq!(text.lines().count(), usize::from(h));
        }
    }
}
