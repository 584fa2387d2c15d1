use std::time::{Duration, Instant};

use super::*;
use crate::config::profile::Profile;
use crate::wire::upstream::{UpstreamRead, UpstreamServer};
use crate::wire::{haproxy, nginx, SourceError};

const PROFILE: &str = r#"
name = "t"
poll_interval = "1s"
timeout = "1s"
[vip]
address = "10.77.0.100"
check_url = "http://10.77.0.100/"
[[balancers]]
name = "lb1"
host = "10.77.0.11"
kind = "haproxy"
runtime_api = "tcp://10.77.0.11:9999"
[[balancers]]
name = "lb2"
host = "10.77.0.12"
kind = "haproxy"
runtime_api = "tcp://10.77.0.12:9999"
[[backends]]
name = "web1"
address = "10.77.0.21:80"
[[backends]]
name = "web2"
address = "10.77.0.22:80"
"#;

fn cluster() -> Cluster {
    Cluster::new(&Profile::parse("t.toml", PROFILE).expect("profile"))
}

fn wall() -> chrono::DateTime<chrono::Local> {
    chrono::Local::now()
}

fn hap(text: &str, uptime: u64) -> BalancerSample {
    BalancerSample::Haproxy {
        info: Some(haproxy::Info {
            uptime_sec: Some(uptime),
            curr_conns: Some(3),
            ..Default::default()
        }),
        stats: haproxy::parse_stat(text).expect("csv"),
        admin: None,
        access: None,
    }
}

#[test]
fn the_operator_set_state_comes_from_show_servers_state() {
    let mut c = cluster();
    let t0 = Instant::now();
    let sample = BalancerSample::Haproxy {
        info: None,
        stats: haproxy::parse_stat(include_str!(
            "../../tests/fixtures/haproxy/show_stat_mixed.csv"
        ))
        .expect("csv"),
        admin: Some(
            haproxy::parse_servers_state(include_str!(
                "../../tests/fixtures/haproxy/show_servers_state_mixed.txt"
            ))
            .expect("state"),
        ),
        access: None,
    };
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(sample),
        },
        wall(),
    );
    let admin = |i: usize| c.backends[i].views[0].as_ref().and_then(|v| v.admin);
    assert_eq!(admin(0), Some(ServerState::Maint));
    assert_eq!(admin(1), Some(ServerState::Drain));
    assert_eq!(
        admin(2),
        Some(ServerState::Up),
        "web3 is DOWN by its checks, not by an operator"
    );
    let web1 = c.backends[0].views[0]
        .as_ref()
        .and_then(|v| v.detail.as_deref())
        .expect("web1's detail");
    assert_eq!(
        (
            web1.weight,
            web1.weight_initial,
            web1.bytes_in,
            web1.bytes_out
        ),
        (Some(1), Some(1), Some(830), Some(1270))
    );
    assert_eq!(
        (web1.since_change, web1.downtime),
        (Some(Duration::from_secs(3)), Some(Duration::from_secs(5)))
    );
    assert_eq!(web1.denied_req, None, "a blank column stays unknown");
    assert_eq!(web1.source, None, "HAProxy has no upstream file");
}

#[test]
fn haproxy_rows_become_per_balancer_views_and_discovered_backends() {
    let mut c = cluster();
    let t0 = Instant::now();
    let stat = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(hap(stat, 10)),
        },
        wall(),
    );
    assert_eq!(c.backends.len(), 3, "web3 discovered from the balancer");
    assert!(!c.backends[2].configured);
    let v = c.backends[0].views[0].as_ref().expect("lb1 sees web1");
    assert_eq!(v.state, Some(ServerState::Up));
    assert_eq!(v.check, "L7OK");
    assert!(c.backends[0].views[1].is_none(), "lb2 not polled yet");
    assert_eq!(c.balancers[0].metrics.active, Some(3));
}

#[test]
fn a_state_change_is_an_event_and_disagreement_is_an_alert() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ok = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    let mixed = include_str!("../../tests/fixtures/haproxy/show_stat_mixed.csv");
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(hap(ok, 10)),
        },
        wall(),
    );
    c.apply(
        SourceUpdate::Balancer {
            index: 1,
            at: t0,
            result: Ok(hap(ok, 10)),
        },
        wall(),
    );
    let before = c.events.len();
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0 + Duration::from_secs(1),
            result: Ok(hap(mixed, 11)),
        },
        wall(),
    );
    let texts: Vec<&str> = c
        .events
        .iter()
        .skip(before)
        .map(|e| e.text.as_str())
        .collect();
    assert!(
        texts.contains(&"web2 UP → DRAIN on lb1 (L7OK)"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("web3 UP → DOWN on lb1")),
        "{texts:?}"
    );
    let alerts = c.alerts(t0 + Duration::from_secs(1));
    assert!(
        alerts
            .iter()
            .any(|a| a.text == "balancers disagree on web2: lb1 DRAIN, lb2 UP"),
        "{alerts:?}"
    );
    assert_eq!(c.backends[2].worst_state(), Some(ServerState::Down));
}

#[test]
fn nginx_counters_become_rates_and_a_restart_is_not_negative() {
    let mut c = cluster();
    let t0 = Instant::now();
    nginx_at(&mut c, t0, 100);
    assert_eq!(c.balancers[0].metrics.req_rate, None);
    nginx_at(&mut c, t0 + Duration::from_secs(2), 300);
    assert_eq!(
        c.balancers[0].metrics.req_rate,
        Some(99.5),
        "our own stub_status request left out"
    );
    nginx_at(&mut c, t0 + Duration::from_secs(3), 5);
    assert_eq!(
        c.balancers[0].metrics.req_rate,
        Some(99.5),
        "a restart gives no rate for its interval: the last one stays"
    );
    assert_eq!(c.balancers[0].restarts, 1);
    assert!(c.events.iter().any(|e| e.text.contains("lb1 restarted")));
    assert_eq!(
        c.balancers[0].req_history.last(3),
        vec![100],
        "no synthetic zero before the first rate nor for the restart"
    );
}

fn nginx_at(c: &mut Cluster, at: Instant, requests: u64) {
    let sample = BalancerSample::Nginx(nginx::StubStatus {
        active: 2,
        accepts: requests,
        handled: requests,
        requests,
        ..Default::default()
    });
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at,
            result: Ok(sample),
        },
        wall(),
    );
}

#[test]
fn a_forced_poll_under_steady_traffic_keeps_the_rate() {
    let mut c = cluster();
    let t0 = Instant::now();
    // 14 req/s plus our own stub_status request per poll.
    nginx_at(&mut c, t0, 1000);
    nginx_at(&mut c, t0 + Duration::from_secs(1), 1015);
    assert_eq!(c.balancers[0].metrics.req_rate, Some(14.0));
    // Ctrl-R 50 ms later: nothing new was counted yet.
    nginx_at(&mut c, t0 + Duration::from_millis(1050), 1016);
    assert_eq!(
        c.balancers[0].metrics.req_rate,
        Some(14.0),
        "a forced poll is not a zero"
    );
    nginx_at(&mut c, t0 + Duration::from_secs(2), 1030);
    assert_eq!(c.balancers[0].metrics.req_rate, Some(14.0));
    assert_eq!(
        c.balancers[0].req_history.last(10),
        vec![14, 14],
        "one column per measured interval, none blank"
    );
}

#[test]
fn samples_a_split_second_apart_invent_no_spike() {
    let mut c = cluster();
    let t0 = Instant::now();
    nginx_at(&mut c, t0, 1000);
    nginx_at(&mut c, t0 + Duration::from_secs(1), 1013);
    // A reload's burst read 20 ms after the previous poll: 5 requests in 20 ms.
    nginx_at(&mut c, t0 + Duration::from_millis(1020), 1019);
    assert_eq!(c.balancers[0].metrics.req_rate, Some(12.0));
    assert_eq!(c.balancers[0].req_history.max_last(10), 12, "no 250/s peak");
}

#[test]
fn haproxy_server_rates_survive_a_forced_poll() {
    let mut c = cluster();
    let t0 = Instant::now();
    let stat = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    for (ms, up) in [(0, 10), (1000, 11), (1040, 11)] {
        c.apply(
            SourceUpdate::Balancer {
                index: 0,
                at: t0 + Duration::from_millis(ms),
                result: Ok(hap(stat, up)),
            },
            wall(),
        );
    }
    let v = c.backends[0].views[0].as_ref().expect("lb1 sees web1");
    assert_eq!(
        v.req_rate,
        Some(0.0),
        "same counters a second apart: a real zero"
    );
    assert_eq!(
        c.backends[0].req_history.len(),
        1,
        "the forced poll adds no column"
    );
}

#[test]
fn haproxy_restart_is_seen_from_uptime() {
    let mut c = cluster();
    let t0 = Instant::now();
    let stat = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(hap(stat, 100)),
        },
        wall(),
    );
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0 + Duration::from_secs(1),
            result: Ok(hap(stat, 1)),
        },
        wall(),
    );
    assert_eq!(c.balancers[0].restarts, 1);
}

#[test]
fn failures_make_values_stale_with_a_sentence() {
    let mut c = cluster();
    let t0 = Instant::now();
    let stat = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(hap(stat, 10)),
        },
        wall(),
    );
    assert!(!c.balancers[0]
        .fresh
        .stale(t0 + Duration::from_secs(1), c.stale_after()));
    assert!(
        c.balancers[0]
            .fresh
            .stale(t0 + Duration::from_secs(10), c.stale_after()),
        "too old"
    );
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0 + Duration::from_secs(1),
            result: Err(SourceError::Connect("Connection refused".into())),
        },
        wall(),
    );
    assert!(c.balancers[0]
        .fresh
        .stale(t0 + Duration::from_secs(1), c.stale_after()));
    let alerts = c.alerts(t0 + Duration::from_secs(1));
    assert!(
        alerts
            .iter()
            .any(|a| a.text.starts_with("lb1 does not answer (cannot connect")),
        "{alerts:?}"
    );
    assert!(c
        .events
        .iter()
        .any(|e| e.text.starts_with("lb1 unreachable")));
}

#[test]
fn health_transitions_are_events() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ok = crate::wire::health::Probe {
        status: 200,
        latency: Duration::from_millis(3),
    };
    c.apply(
        SourceUpdate::Health {
            index: 1,
            at: t0,
            result: Ok(ok),
        },
        wall(),
    );
    assert_eq!(c.backends[1].health, Health::Healthy);
    c.apply(
        SourceUpdate::Health {
            index: 1,
            at: t0,
            result: Err(SourceError::Timeout(Duration::from_secs(1))),
        },
        wall(),
    );
    assert_eq!(c.backends[1].health, Health::Down);
    let last = c.events.iter().last().expect("event");
    assert_eq!(last.text, "web2 health OK → DOWN (no answer within 1s)");
    assert_eq!(last.level, Level::Error);
}

#[test]
fn vip_serving_follows_the_check() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ok = crate::wire::health::Probe {
        status: 200,
        latency: Duration::from_millis(3),
    };
    c.apply(
        SourceUpdate::Vip {
            at: t0,
            result: Ok(ok),
        },
        wall(),
    );
    assert_eq!(c.vip.serving(), Some(true));
    c.apply(
        SourceUpdate::Vip {
            at: t0,
            result: Err(SourceError::Connect("Connection refused".into())),
        },
        wall(),
    );
    assert_eq!(c.vip.serving(), Some(false));
    assert!(c
        .alerts(t0)
        .iter()
        .any(|a| a.text.starts_with("VIP 10.77.0.100 does not serve")));
}

#[test]
fn a_backend_that_keeps_changing_is_flapping() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ok = crate::wire::health::Probe {
        status: 200,
        latency: Duration::from_millis(3),
    };
    let bad = crate::wire::health::Probe {
        status: 503,
        latency: Duration::from_millis(3),
    };
    for i in 0..5u64 {
        let p = if i % 2 == 0 { ok } else { bad };
        c.apply(
            SourceUpdate::Health {
                index: 0,
                at: t0 + Duration::from_secs(i * 5),
                result: Ok(p),
            },
            wall(),
        );
    }
    let at = t0 + Duration::from_secs(20);
    assert!(c.backends[0].flapping(at));
    assert_eq!(
        c.events
            .iter()
            .filter(|e| e.text.starts_with("web1 is flapping"))
            .count(),
        1,
        "said once"
    );
    assert!(c.alerts(at).iter().any(|a| a
        .text
        .starts_with("web1 is flapping (4 health changes in 60s)")));
    assert!(
        !c.backends[0].flapping(t0 + Duration::from_secs(200)),
        "calm again after the window"
    );
}

#[test]
fn a_drained_backend_reported_ready_again_is_drift() {
    let mut c = cluster();
    let t0 = Instant::now();
    let sample = |state: &str| BalancerSample::Haproxy {
        info: None,
        stats: haproxy::parse_stat(include_str!("../../tests/fixtures/haproxy/show_stat.csv"))
            .expect("csv"),
        admin: Some(haproxy::parse_servers_state(state).expect("state")),
        access: None,
    };
    let drained = include_str!("../../tests/fixtures/haproxy/show_servers_state_mixed.txt");
    let ready = include_str!("../../tests/fixtures/haproxy/show_servers_state.txt");
    c.drained.insert("web2".into());
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(sample(drained)),
        },
        wall(),
    );
    assert!(
        !c.alerts(t0).iter().any(|a| a.text.starts_with("DRIFT")),
        "still drained"
    );
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(sample(ready)),
        },
        wall(),
    );
    let alerts = c.alerts(t0);
    assert!(
        alerts.iter().any(|a| a
            .text
            .starts_with("DRIFT: web2 was drained from lbdeck but lb1")),
        "{alerts:?}"
    );
}

fn both_balancers(c: &mut Cluster, at: Instant, stat: &str) {
    for index in 0..2 {
        c.apply(
            SourceUpdate::Balancer {
                index,
                at,
                result: Ok(hap(stat, 10)),
            },
            wall(),
        );
    }
}

#[test]
fn everything_drained_is_healthy_but_out_of_rotation_and_an_alarm() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ok = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    let probe = crate::wire::health::Probe {
        status: 200,
        latency: Duration::from_millis(3),
    };
    for index in 0..2 {
        c.apply(
            SourceUpdate::Health {
                index,
                at: t0,
                result: Ok(probe),
            },
            wall(),
        );
    }
    both_balancers(&mut c, t0, ok);
    assert_eq!(c.in_rotation(), Some(3));
    assert!(c.alerts(t0).is_empty(), "{:?}", c.alerts(t0));

    let drained = ok.replace(",UP,1,1,0,", ",DRAIN,1,1,0,");
    both_balancers(&mut c, t0 + Duration::from_secs(1), &drained);
    assert_eq!(c.healthy(), 2);
    assert_eq!(c.in_rotation(), Some(0));
    let alerts = c.alerts(t0 + Duration::from_secs(1));
    assert!(
        alerts
            .iter()
            .any(|a| a.level == Level::Error && a.text.starts_with("no backend is in rotation")),
        "all clear is impossible: {alerts:?}"
    );
}

#[test]
fn fewer_in_rotation_than_the_profile_minimum_is_an_alarm() {
    let mut c = cluster();
    c.min_in_rotation = 3;
    let t0 = Instant::now();
    let ok = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    let one_drained = ok.replacen(",UP,1,1,0,", ",DRAIN,1,1,0,", 1);
    both_balancers(&mut c, t0, &one_drained);
    assert_eq!(c.in_rotation(), Some(2));
    assert!(c.alerts(t0).iter().any(|a| a
        .text
        .starts_with("only 2 backend(s) in rotation, fewer than min_healthy_backends = 3")));
    c.min_in_rotation = 1;
    assert!(!c.alerts(t0).iter().any(|a| a.text.contains("in rotation")));
}

#[test]
fn a_log_no_longer_followed_shows_no_rates() {
    let mut c = cluster();
    let t0 = Instant::now();
    let traffic = crate::sources::access_log::BackendTraffic {
        addr: "10.77.0.21:80".into(),
        requests: 30,
        req_rate: 3.0,
        ..Default::default()
    };
    c.apply(
        SourceUpdate::Traffic {
            index: 1,
            at: t0,
            lines: None,
            result: Ok(vec![traffic]),
        },
        wall(),
    );
    assert_eq!(c.backends[0].req_rate(), Some(3.0));
    c.apply(
        SourceUpdate::Traffic {
            index: 1,
            at: t0 + Duration::from_secs(1),
            lines: None,
            result: Err(crate::wire::FetchError(
                "lb2: the access log stream ended".into(),
            )),
        },
        wall(),
    );
    assert_eq!(
        c.backends[0].req_rate(),
        None,
        "not the last window's numbers, not 0.0"
    );
}

#[test]
fn nginx_servers_marked_down_in_the_upstream_file_are_out_of_rotation() {
    let profile = Profile::parse(
        "t.toml",
        &PROFILE
            .replace("kind = \"haproxy\"", "kind = \"nginx\"")
            .replace(
                "runtime_api = \"tcp://10.77.0.11:9999\"",
                "status_url = \"http://10.77.0.11/s\"",
            )
            .replace(
                "runtime_api = \"tcp://10.77.0.12:9999\"",
                "status_url = \"http://10.77.0.12/s\"",
            ),
    )
    .expect("profile");
    let mut c = Cluster::new(&profile);
    let t0 = Instant::now();
    for b in &mut c.backends {
        b.health = Health::Healthy;
    }
    let server = |address: &str, down: bool, line: usize| UpstreamServer {
        address: address.into(),
        down,
        weight: 1,
        initial_weight: 1,
        backup: false,
        line,
        next: None,
    };
    let file = |web1_down: bool| {
        Ok(UpstreamRead {
            file: "/etc/nginx/conf.d/upstream.conf".into(),
            servers: vec![
                server("10.77.0.21:80", web1_down, 2),
                // nginx's default port.
                server("10.77.0.22", true, 3),
            ],
        })
    };
    for index in 0..2 {
        c.apply(
            SourceUpdate::Upstream {
                index,
                at: t0,
                result: file(false),
            },
            wall(),
        );
    }
    assert_eq!(c.in_rotation(), Some(1), "web2 is down in both files");
    let source = |b: usize| {
        c.backends[b].views[0]
            .as_ref()
            .and_then(|v| v.detail.as_ref())
            .and_then(|d| d.source.clone())
    };
    assert_eq!(
        (source(0).as_deref(), source(1).as_deref()),
        (
            Some("/etc/nginx/conf.d/upstream.conf:2"),
            Some("/etc/nginx/conf.d/upstream.conf:3")
        ),
        "each server's line, the one written without a port too"
    );
    assert_eq!(
        c.backends[1].views[0]
            .as_ref()
            .and_then(ServerView::shown_state),
        Some(ServerState::Maint)
    );
    assert_eq!(
        c.backends[0].views[0]
            .as_ref()
            .and_then(ServerView::shown_state),
        None
    );
    // Another operator drains web1 on lb1: it shows, as an event too.
    c.apply(
        SourceUpdate::Upstream {
            index: 0,
            at: t0 + Duration::from_secs(1),
            result: file(true),
        },
        wall(),
    );
    assert_eq!(c.in_rotation(), Some(0));
    assert!(c
        .events
        .iter()
        .any(|e| e.text == "web1 UP → MAINT on lb1 (upstream file)"));
    assert!(c
        .alerts(t0 + Duration::from_secs(1))
        .iter()
        .any(|a| a.text.starts_with("no backend is in rotation")));
    // The site answers 503 through the VIP: the alarm says why, not "check the VIP".
    c.apply(
        SourceUpdate::Vip {
            at: t0 + Duration::from_secs(1),
            result: Ok(crate::wire::health::Probe {
                status: 503,
                latency: Duration::from_millis(1),
            }),
        },
        wall(),
    );
    let vip = c
        .alerts(t0 + Duration::from_secs(1))
        .into_iter()
        .find(|a| a.text.starts_with("VIP"))
        .expect("the VIP alarm");
    assert_eq!(
        vip.text,
        "VIP 10.77.0.100 answers HTTP 503: no backend in rotation (undrain one)"
    );
}

#[test]
fn a_backend_at_weight_0_is_out_of_rotation() {
    let mut b = Backend::new("web1".into(), "10.0.0.21:80".into(), true, 1);
    b.views = vec![Some(ServerView {
        state: Some(ServerState::Up),
        weight: Some(5),
        ..ServerView::default()
    })];
    assert_eq!(b.in_rotation(), Some(true));
    b.views[0].as_mut().expect("view").weight = Some(0);
    assert_eq!(b.in_rotation(), Some(false));
}

#[test]
fn a_changed_weight_and_a_backup_server_are_marked_after_the_state() {
    let mut v = ServerView {
        weight: Some(5),
        weight_initial: Some(1),
        backup: Some(true),
        ..ServerView::default()
    };
    assert_eq!(v.marks(), " w5 backup");
    v.weight = Some(1);
    v.backup = Some(false);
    assert_eq!(v.marks(), "", "nothing to say at the configured weight");
    let json = serde_json::to_value(&v).expect("json");
    assert_eq!(
        (json["weight"].clone(), json["backup"].clone()),
        (serde_json::json!(1), serde_json::json!(false))
    );
}

#[test]
fn a_weight_set_from_here_and_lost_again_is_drift() {
    let mut c = cluster();
    let t0 = Instant::now();
    let ready = include_str!("../../tests/fixtures/haproxy/show_servers_state.txt");
    let sample = BalancerSample::Haproxy {
        info: None,
        stats: haproxy::parse_stat(include_str!("../../tests/fixtures/haproxy/show_stat.csv"))
            .expect("csv"),
        admin: Some(haproxy::parse_servers_state(ready).expect("state")),
        access: None,
    };
    c.apply(
        SourceUpdate::Balancer {
            index: 0,
            at: t0,
            result: Ok(sample),
        },
        wall(),
    );
    let now = c.backends[0].views[0]
        .as_ref()
        .and_then(|v| v.weight)
        .expect("weight read");
    c.weights_set.insert("web1".into(), now);
    assert!(!c.alerts(t0).iter().any(|a| a.text.starts_with("DRIFT")));
    c.weights_set.insert("web1".into(), now + 6);
    let alerts = c.alerts(t0);
    let drift = alerts
        .iter()
        .find(|a| a.text.starts_with("DRIFT"))
        .expect("drift");
    assert_eq!(
        drift.text,
        format!(
            "DRIFT: web1's weight was set to {} from lbdeck but lb1 reports {now}: someone changed it, or a reload lost it",
            now + 6
        )
    );
}
