//! Simulated NGINX Plus API (version 9) of the demo balancers: the upstream's peers with
//! the simulation's counters, the servers collection, and `PATCH {"drain": …}` or
//! `{"down": …}` on one server — a draining server gets no new request from that balancer.

use serde_json::{json, Value};

use super::Sim;
use crate::model::ServerState;

/// The API version the demo answers (the one lbdeck speaks).
const VERSION: u32 = crate::wire::nginx_plus::API_VERSION;

/// NGINX Plus's error body: `{"error": {"status", "text", "code"}}`.
fn error(status: u16, text: &str, code: &str) -> (u16, String) {
    let body = json!({
        "error": { "status": status, "text": text, "code": code },
        "href": "https://nginx.org/en/docs/http/ngx_http_api_module.html",
    });
    (status, body.to_string())
}

/// A peer's state as NGINX Plus words it on balancer `lb`.
fn peer_state(sim: &Sim, lb: usize, i: usize) -> &'static str {
    let b = &sim.backends[i];
    match (b.admin[lb], b.up) {
        (ServerState::Maint, _) => "down",
        (ServerState::Drain, _) => "draining",
        (_, false) => "unhealthy",
        _ => "up",
    }
}

/// One peer of the upstream, as `GET /api/9/http/upstreams` lists it.
fn peer(sim: &Sim, lb: usize, i: usize) -> Value {
    let b = &sim.backends[i];
    let [ok, not_found, errors] = b.hrsp[lb];
    let f = &b.faults[lb];
    let rtime = if b.stot[lb] > 0 {
        b.rtime_ms.round() as u64
    } else {
        0
    };
    json!({
        "id": i, "server": b.address, "name": b.address, "backup": false, "weight": 1,
        "state": peer_state(sim, lb, i), "active": b.sessions[lb].round() as u64,
        "max_conns": 0, "requests": b.stot[lb], "header_time": rtime, "response_time": rtime,
        "responses": {
            "1xx": 0, "2xx": ok, "3xx": 0, "4xx": not_found, "5xx": errors,
            "total": ok + not_found + errors,
        },
        "sent": b.stot[lb] * 420, "received": b.stot[lb] * 5120,
        "fails": f.econ, "unavail": f.chkdown,
        "health_checks": {
            "checks": sim.t as u64, "fails": f.chkfail, "unhealthy": f.chkdown,
            "last_passed": b.up,
        },
        "downtime": (b.down_s * 1000.0) as u64,
    })
}

/// The upstream object: its peers and settings.
fn upstream(sim: &Sim, lb: usize) -> Value {
    let peers: Vec<Value> = (0..sim.backends.len()).map(|i| peer(sim, lb, i)).collect();
    json!({ "peers": peers, "keepalive": 0, "zombies": 0, "zone": super::BACKEND })
}

/// One server's configuration, as the servers collection holds it.
fn server(sim: &Sim, lb: usize, i: usize) -> Value {
    let b = &sim.backends[i];
    json!({
        "id": i, "server": b.address, "weight": b.weight[lb], "max_conns": 0, "max_fails": 1,
        "fail_timeout": "10s", "slow_start": "0s", "route": "", "backup": false,
        "down": b.admin[lb] == ServerState::Maint, "drain": b.admin[lb] == ServerState::Drain,
    })
}

/// Changes server `i` on balancer `lb` as a PATCH body says; the error NGINX Plus gives
/// otherwise.
fn patch(sim: &mut Sim, lb: usize, i: usize, body: &str) -> Result<(), (u16, String)> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(body) else {
        return Err(error(400, "invalid JSON", "JsonError"));
    };
    let b = &mut sim.backends[i];
    if let Some(w) = fields.get("weight") {
        match w.as_u64().and_then(|w| u32::try_from(w).ok()) {
            Some(w) if w > 0 => b.weight[lb] = w,
            _ => {
                return Err(error(
                    400,
                    "invalid \"weight\" field",
                    "UpstreamConfFormatError",
                ))
            }
        }
    }
    let admin = &mut b.admin[lb];
    for (key, value) in fields.iter().filter(|(k, _)| *k != "weight") {
        let Some(on) = value.as_bool() else {
            return Err(error(
                400,
                &format!("invalid \"{key}\" field"),
                "UpstreamConfFormatError",
            ));
        };
        let state = match key.as_str() {
            "drain" => ServerState::Drain,
            "down" => ServerState::Maint,
            _ => continue,
        };
        if on {
            *admin = state;
        } else if *admin == state {
            *admin = ServerState::Up;
        }
    }
    Ok(())
}

/// Answers one API request to balancer `lb`: the status and the JSON body.
pub fn answer(sim: &mut Sim, lb: usize, method: &str, path: &str, body: &str) -> (u16, String) {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let version = VERSION.to_string();
    let found = |i: &str| i.parse::<usize>().ok().filter(|&i| i < sim.backends.len());
    match (method, parts.as_slice()) {
        ("GET", ["api"]) => (200, json!((1..=VERSION).collect::<Vec<_>>()).to_string()),
        (_, ["api", v, ..]) if *v != version => error(404, "unknown version", "UnknownVersion"),
        ("GET", ["api", _, "http", "upstreams"]) => (
            200,
            json!({ super::BACKEND: upstream(sim, lb) }).to_string(),
        ),
        (_, ["api", _, "http", "upstreams", u, ..]) if *u != super::BACKEND => {
            error(404, "upstream not found", "UpstreamNotFound")
        }
        ("GET", ["api", _, "http", "upstreams", _]) => (200, upstream(sim, lb).to_string()),
        ("GET", ["api", _, "http", "upstreams", _, "servers"]) => {
            let all: Vec<Value> = (0..sim.backends.len())
                .map(|i| server(sim, lb, i))
                .collect();
            (200, Value::Array(all).to_string())
        }
        (m, ["api", _, "http", "upstreams", _, "servers", id]) => match (m, found(id)) {
            (_, None) => error(404, "server not found", "UpstreamServerNotFound"),
            ("GET", Some(i)) => (200, server(sim, lb, i).to_string()),
            ("PATCH", Some(i)) => match patch(sim, lb, i, body) {
                Ok(()) => (200, server(sim, lb, i).to_string()),
                Err(e) => e,
            },
            _ => error(405, "method not supported", "MethodNotSupported"),
        },
        ("GET", _) => error(404, "path not found", "PathNotFound"),
        _ => error(405, "method not supported", "MethodNotSupported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nginx_plus::parse_upstream;

    #[test]
    fn the_api_speaks_the_shapes_lbdeck_reads_and_drains_one_balancer() {
        let mut sim = Sim::with_addresses(3);
        assert!(sim.requests_over(1, 0, 5.0) > 0);
        let (status, text) = answer(&mut sim, 0, "GET", "/api/9/http/upstreams", "");
        assert_eq!(status, 200);
        let peers = parse_upstream(&text, "be_web").expect("the recorded shape");
        assert_eq!(peers.len(), 3);
        assert!(peers.iter().all(|p| p.state == "up" && p.requests > 0));

        let one = "/api/9/http/upstreams/be_web/servers/1";
        let (status, text) = answer(&mut sim, 0, "PATCH", one, r#"{"drain":true}"#);
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("json")["drain"],
            true
        );
        assert_eq!(sim.backends[1].admin, [ServerState::Drain, ServerState::Up]);
        let (_, text) = answer(&mut sim, 0, "GET", "/api/9/http/upstreams", "");
        let peers = parse_upstream(&text, "be_web").expect("parses");
        assert_eq!(peers[1].admin(), ServerState::Drain);
        assert_eq!(
            sim.requests_over(1, 0, 5.0),
            0,
            "no new request while draining"
        );

        answer(&mut sim, 0, "PATCH", one, r#"{"drain":false}"#);
        assert_eq!(sim.backends[1].admin[0], ServerState::Up);
        let (_, text) = answer(
            &mut sim,
            0,
            "GET",
            "/api/9/http/upstreams/be_web/servers",
            "",
        );
        let servers: Vec<Value> = serde_json::from_str(&text).expect("an array");
        assert_eq!(servers[1]["server"], "127.0.0.22:80");

        for (method, path, body, status) in [
            ("PATCH", one, "not json", 400),
            ("PATCH", "/api/9/http/upstreams/be_web/servers/7", "{}", 404),
            ("GET", "/api/8/http/upstreams", "", 404),
            ("GET", "/api/9/http/upstreams/be_api", "", 404),
            ("DELETE", one, "", 405),
        ] {
            let (got, text) = answer(&mut sim, 0, method, path, body);
            assert_eq!(got, status, "{method} {path}");
            assert_eq!(
                serde_json::from_str::<Value>(&text).expect("json")["error"]["status"],
                status
            );
        }
    }
}
