//! Lab scenarios for Prometheus as the source: the lab's own Prometheus (`scripts/lab
//! prometheus up`) scraping HAProxy's exporter, prometheus-nginx-exporter and keepalived's
//! state through node_exporter every second. The same cluster read directly and through
//! Prometheus agrees; a drain made with `lbdeck drain` (acting on the nodes) shows within
//! two scrape intervals; a stopped exporter is DOWN with Prometheus' reason while its
//! balancer is not called dead.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{lab_ok, lbdeck_ok, status};

/// The lab's scrape interval (scripts/lab writes `scrape_interval: 1s`).
const SCRAPE: Duration = Duration::from_secs(1);

/// Prometheus and its exporters running, every target up (again from any state).
fn prometheus_up() {
    lab_ok(&["prometheus", "up"]);
}

/// keepalived's role per balancer, by name.
fn roles(v: &Value) -> Vec<(String, Value)> {
    v["balancers"]
        .as_array()
        .expect("balancers")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("").to_string(),
                b["vrrp"]["role"].clone(),
            )
        })
        .collect()
}

/// Each backend's state on each balancer, by name.
fn server_states(v: &Value) -> Vec<(String, Value, Value)> {
    v["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("").to_string(),
                b["balancers"]["lb1"]["state"].clone(),
                b["balancers"]["lb2"]["state"].clone(),
            )
        })
        .collect()
}

/// `status --json` of `profile` read through Prometheus, and how long it took.
fn timed_status(profile: &str) -> (Value, Duration) {
    let started = Instant::now();
    let v = status(profile);
    (v, started.elapsed())
}

/// Both pairs read directly and through Prometheus: the same roles, VIP holder and (the
/// HAProxy pair) every backend's state on every balancer; nginx open source through its
/// exporter has no per-upstream state and none is shown. The JSON is the same shape, its
/// `source` naming Prometheus.
pub fn prometheus_and_direct_polling_agree_on_both_pairs() {
    prometheus_up();
    let direct = status("lab-haproxy");
    let (prom, took) = timed_status("lab-haproxy-prom");
    eprintln!("status --source prometheus (HAProxy pair): {took:?} for the whole command");
    assert_eq!(direct["source"], "direct");
    assert_eq!(prom["source"], "prometheus");
    assert!(prom["balancers"]
        .as_array()
        .expect("balancers")
        .iter()
        .all(|b| b["up"] == true
            && b["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("Prometheus http://10.77.0.2:9090 instance "))));
    assert_eq!(roles(&prom), roles(&direct), "{prom:#}");
    assert_eq!(
        roles(&prom),
        vec![
            ("lb1".to_string(), Value::from("MASTER")),
            ("lb2".to_string(), Value::from("BACKUP"))
        ]
    );
    assert_eq!(prom["vip"]["holders"], direct["vip"]["holders"]);
    assert_eq!(prom["vip"]["holders"], serde_json::json!(["lb1"]));
    assert_eq!(server_states(&prom), server_states(&direct), "{prom:#}");
    assert_eq!(prom["in_rotation"], 3);
    // The same keys at the top and for every balancer, wherever the numbers came from.
    let keys =
        |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
    assert_eq!(keys(&prom), keys(&direct));
    assert_eq!(keys(&prom["balancers"][0]), keys(&direct["balancers"][0]));

    let direct = status("lab");
    let prom = status("lab-prom");
    assert_eq!(roles(&prom), roles(&direct), "{prom:#}");
    assert_eq!(prom["vip"]["holders"], direct["vip"]["holders"]);
    assert!(prom["balancers"]
        .as_array()
        .expect("balancers")
        .iter()
        .all(|b| b["up"] == true && b["active"].as_u64().is_some()));
    // Direct polling reads the state operators set from the upstream files over SSH;
    // the exporter has no per-upstream state and none is made up.
    let views = |v: &Value| -> Vec<bool> {
        v["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .flat_map(|b| ["lb1", "lb2"].map(|lb| b["balancers"][lb].is_null()))
            .collect()
    };
    assert_eq!(views(&direct), vec![false; 6], "{direct:#}");
    assert_eq!(views(&prom), vec![true; 6], "{prom:#}");
}

/// `lbdeck drain` with the Prometheus profile acts on the nodes; Prometheus shows web2
/// DRAIN on both balancers within two scrape intervals of the drain's return, and back
/// UP after the undrain.
pub fn prometheus_shows_a_drain_within_two_scrapes() {
    prometheus_up();
    let state = tempfile::tempdir().expect("tempdir");
    let drained = |v: &Value, want: &str| {
        server_states(v)
            .iter()
            .any(|(name, a, b)| name == "web2" && a == want && b == want)
    };
    lbdeck_ok(
        &["drain", "--profile", "lab-haproxy-prom", "web2", "--yes"],
        state.path(),
    );
    let done = Instant::now();
    let seen = loop {
        let v = status("lab-haproxy-prom");
        if drained(&v, "DRAIN") {
            break done.elapsed();
        }
        assert!(
            done.elapsed() < SCRAPE * 5,
            "web2 not DRAIN through Prometheus {:?} after the drain:\n{v:#}",
            done.elapsed()
        );
    };
    eprintln!("drain seen through Prometheus {seen:?} after lbdeck drain returned");
    lbdeck_ok(
        &["undrain", "--profile", "lab-haproxy-prom", "web2", "--yes"],
        state.path(),
    );
    let undone = Instant::now();
    while !drained(&status("lab-haproxy-prom"), "UP") {
        assert!(undone.elapsed() < SCRAPE * 5, "web2 not UP again");
    }
    assert!(
        seen <= SCRAPE * 2,
        "the drain took {seen:?} to show, more than two scrape intervals"
    );
}

/// prometheus-nginx-exporter stopped on lb2: lb2 is DOWN as an exporter, with
/// Prometheus' lastError, flagged `exporter_down`; keepalived on it (another exporter)
/// still reads BACKUP, and no alert calls lb2 itself dead. Started again, it is read.
pub fn prometheus_stopped_exporter_is_down_with_its_reason_not_a_dead_balancer() {
    prometheus_up();
    lab_ok(&["fault", "stop-nginx-exporter", "lb2"]);
    let started = Instant::now();
    let v = loop {
        let v = status("lab-prom");
        if v["balancers"][1]["up"] == false {
            break v;
        }
        assert!(
            started.elapsed() < SCRAPE * 5,
            "lb2's exporter not DOWN through Prometheus:\n{v:#}"
        );
    };
    lab_ok(&["lift", "stop-nginx-exporter", "lb2"]);
    let lb2 = &v["balancers"][1];
    let error = lb2["error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("exporter 10.77.0.12:9113 (nginx) is DOWN for Prometheus: ")
            && error.contains("connection refused"),
        "{v:#}"
    );
    assert_eq!(lb2["exporter_down"], true);
    assert_eq!(lb2["vrrp"]["role"], "BACKUP");
    assert_eq!(v["balancers"][0]["up"], true);
    assert!(v["balancers"][0].get("exporter_down").is_none());
    let alerts: Vec<&str> = v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["text"].as_str())
        .collect();
    assert!(
        alerts
            .iter()
            .any(|a| a.starts_with("lb2 is not read through Prometheus")),
        "{alerts:?}"
    );
    assert!(
        !alerts.iter().any(|a| a.contains("does not answer")),
        "{alerts:?}"
    );
    let back = Instant::now();
    while status("lab-prom")["balancers"][1]["up"] != true {
        assert!(
            back.elapsed() < SCRAPE * 10,
            "lb2's exporter not read again"
        );
    }
}
