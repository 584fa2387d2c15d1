//! The real binary on good and bad input: one clear line and exit 2 for bad
//! configuration, never a panic or a raw serde dump.

use std::path::Path;
use std::process::{Command, Output};

fn lbdeck(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_lbdeck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env_remove("LBDECK_PROFILE")
        .env_remove("LBDECK_THEME")
        .output()
        .expect("run lbdeck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 and exactly one line on stderr that contains every `needle`.
fn assert_config_error(args: &[&str], needles: &[&str]) {
    let o = lbdeck(args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "exit code for {args:?}; stderr: {err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line for {args:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in {err:?}");
    }
}

#[test]
fn unknown_key_names_file_line_column_and_the_expected_keys() {
    assert_config_error(
        &[
            "check",
            "--profile",
            "tests/fixtures/profiles/unknown_key.toml",
        ],
        &[
            "tests/fixtures/profiles/unknown_key.toml:4:1:",
            "unknown field `colour`",
            "expected one of",
            "poll_interval",
        ],
    );
}

#[test]
fn wrong_type_is_explained() {
    assert_config_error(
        &[
            "check",
            "--profile",
            "tests/fixtures/profiles/wrong_type.toml",
        ],
        &["wrong_type.toml:2:17:", "invalid type: integer `5`"],
    );
    assert_config_error(
        &[
            "check",
            "--profile",
            "tests/fixtures/profiles/bad_kind.toml",
        ],
        &[
            "bad_kind.toml:6:8:",
            "unknown variant `apache`",
            "nginx-plus",
            "haproxy",
        ],
    );
    assert_config_error(
        &["check", "--profile", "tests/fixtures/profiles/bad_url.toml"],
        &["bad_url.toml:7:14:", "expected an http:// or https:// URL"],
    );
    assert_config_error(
        &[
            "check",
            "--profile",
            "tests/fixtures/profiles/not_toml.toml",
        ],
        &["not_toml.toml:1:"],
    );
}

#[test]
fn missing_required_parts_and_files() {
    assert_config_error(
        &[
            "check",
            "--profile",
            "tests/fixtures/profiles/no_balancers.toml",
        ],
        &["no_balancers.toml", "missing field `balancers`"],
    );
    assert_config_error(
        &["check", "--profile", "nope"],
        &["nope: no profile of that name", "profiles"],
    );
    assert_config_error(
        &["check", "--profile", "/no/such/file.toml"],
        &["/no/such/file.toml: no such profile file"],
    );
    assert_config_error(&["check"], &["no profile given", "lbdeck demo"]);
}

#[test]
fn bad_theme_and_keymap_are_rejected() {
    assert_config_error(
        &["check", "--profile", "lab", "--theme", "neon"],
        &["unknown theme \"neon\"", "dark", "catppuccin-mocha"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, "[keys]\nquit = [\"q\"]\nhelp = [\"hyper-h\"]\n").expect("write");
    let keys = keys.display().to_string();
    assert_config_error(
        &["check", "--profile", "lab", "--keys", &keys],
        &["keys.toml:3:9:", "unknown key \"hyper-h\""],
    );
}

#[test]
fn every_shipped_profile_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("profiles/") {
        let path = entry.expect("entry").path();
        let o = lbdeck(&[
            "check",
            "--offline",
            "--profile",
            &path.display().to_string(),
        ]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains(": ok"));
        n += 1;
    }
    assert!(n >= 4, "lab, lab-haproxy, shop and an HAProxy pair ship");
}

#[test]
fn help_explains_and_names_the_demo() {
    let o = lbdeck(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "lbdeck demo",
        "--profile",
        "--read-only",
        "status",
        "Exit codes",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}

#[test]
fn status_on_the_demo_is_complete_json() {
    let o = lbdeck(&["status", "--demo", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let balancers = v["balancers"].as_array().expect("balancers");
    assert_eq!(balancers.len(), 2);
    assert!(balancers.iter().all(|b| b["up"] == true), "{v:#}");
    assert!(
        balancers[0]["requests_total"].as_u64().unwrap_or(0) > 0,
        "real counters"
    );
    let backends = v["backends"].as_array().expect("backends");
    assert_eq!(backends.len(), 6);
    for b in backends {
        assert!(b["health"]["state"].is_string());
        let state = b["balancers"]["lb1"]["state"].as_str().unwrap_or("");
        assert!(
            ["UP", "DOWN", "DRAIN", "MAINT", "NOLB"].contains(&state),
            "{b}"
        );
        assert!(b["balancers"]["lb2"]["state"].is_string());
    }
    assert_eq!(v["vip"]["reachable"], true);
    assert!(v["alerts"].is_array());
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one compact line when stdout is not a terminal"
    );
    let pretty = lbdeck(&["status", "--demo", "--json", "--pretty"]);
    assert!(String::from_utf8_lossy(&pretty.stdout).lines().count() > 20);
}

#[test]
fn check_asks_every_balancer_and_names_what_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("dead.toml");
    // Port 9 on loopback: nothing listens there; no SSH either (port 1).
    std::fs::write(
        &p,
        "name = \"dead\"\ntimeout = \"500ms\"\n[ssh]\nport = 1\nidentity_file = \"/nonexistent/key\"\n\
         [[balancers]]\nname = \"lb1\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\nruntime_api = \"tcp://127.0.0.1:9\"\n\
         [balancers.keepalived]\nnotify_fifo = \"/run/keepalived.fifo\"\n",
    )
    .expect("write");
    let o = lbdeck(&["check", "--profile", &p.display().to_string()]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains("✗ runtime API tcp://127.0.0.1:9 answers: cannot connect"),
        "{out}"
    );
    assert!(
        out.contains("✗ SSH login as root@[127.0.0.1]:1: ssh [127.0.0.1]:1: connection refused"),
        "{out}"
    );
    assert!(out.contains("check(s) failed"), "{out}");
}

#[test]
fn each_command_s_help_lists_only_its_own_flags() {
    let help = |cmd: &str| String::from_utf8_lossy(&lbdeck(&[cmd, "--help"]).stdout).into_owned();
    let drain = help("drain");
    for flag in [
        "--profile",
        "--read-only",
        "--yes",
        "--confirm",
        "--force",
        "--wait",
    ] {
        assert!(drain.contains(flag), "drain --help lacks {flag}:\n{drain}");
    }
    for flag in ["--theme", "--keys", "--frame-stats"] {
        assert!(!drain.contains(flag), "drain --help lists {flag}:\n{drain}");
    }
    let status = help("status");
    for flag in ["--read-only", "--theme", "--frame-stats", "--yes"] {
        assert!(
            !status.contains(flag),
            "status --help lists {flag}:\n{status}"
        );
    }
    let demo = help("demo");
    assert!(!demo.contains("--profile"), "{demo}");
    assert!(
        demo.contains("--theme") && demo.contains("--read-only"),
        "{demo}"
    );
}

#[test]
fn plain_status_names_each_role_and_the_vip_holder() {
    let o = lbdeck(&["status", "--demo"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains(", on lb1\n"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name) && l.contains("haproxy"))
            .unwrap_or("")
            .to_string()
    };
    assert!(row("lb1").contains("MASTER"), "{out}");
    assert!(row("lb2").contains("BACKUP"), "{out}");
}

#[test]
fn traffic_with_no_access_log_to_follow_fails_and_says_why() {
    let o = lbdeck(&[
        "traffic",
        "--profile",
        "profiles/lab-haproxy.toml",
        "--for",
        "1s",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no access log could be followed")
            && stderr(&o).contains("no nginx balancer with access_log"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn status_reports_unreachable_parts_inside_the_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("dead.toml");
    // Port 9 on loopback: nothing listens there (discard is never enabled here).
    std::fs::write(
        &p,
        "name = \"dead\"\ntimeout = \"500ms\"\n[vip]\naddress = \"127.0.0.1\"\ncheck_url = \"http://127.0.0.1:9/\"\n\
         [[balancers]]\nname = \"lb1\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\nruntime_api = \"tcp://127.0.0.1:9\"\n\
         [[backends]]\nname = \"web1\"\naddress = \"127.0.0.1:9\"\n",
    )
    .expect("write");
    let o = lbdeck(&["status", "--json", "--profile", &p.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["balancers"][0]["up"], false);
    assert!(
        v["balancers"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("cannot connect"),
        "{v:#}"
    );
    assert_eq!(v["backends"][0]["health"]["state"], "down");
    assert_eq!(v["vip"]["reachable"], false);
    assert!(!v["alerts"].as_array().expect("alerts").is_empty());
}

#[test]
fn a_closed_stdout_ends_quietly_not_with_a_panic() {
    // `lbdeck status --demo --json | head -1`: the reader goes away mid-output.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbdeck"))
        .args(["status", "--demo", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lbdeck");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn status_all_lists_every_profile_and_names_a_broken_one() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("config/lbdeck/profiles");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("broken.toml"),
        "name = \"broken\"\nbalancers = 3\n",
    )
    .expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_lbdeck"))
        .args(["status", "--all", "--json"])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("LBDECK_PROFILE")
        .output()
        .expect("run lbdeck");
    assert_eq!(o.status.code(), Some(1), "trouble → exit 1: {}", stderr(&o));
    // One compact JSON line per cluster.
    let out = String::from_utf8_lossy(&o.stdout);
    let clusters: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(clusters.len(), 1, "{out}");
    let error = clusters[0]["error"].as_str().expect("an error");
    assert!(error.contains("broken.toml:2:"), "{error}");
}

/// Without a terminal the console says what to use instead: one line, no escapes.
#[test]
fn the_console_without_a_terminal_says_so_in_one_clean_line() {
    let o = lbdeck(&["demo"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(
        !err.contains('\x1b') && o.stdout.is_empty(),
        "{err:?} {:?}",
        o.stdout
    );
}

#[test]
fn source_prometheus_needs_the_prometheus_table() {
    assert_config_error(
        &[
            "status",
            "--profile",
            "profiles/lab-haproxy.toml",
            "--source",
            "prometheus",
        ],
        &["--source prometheus: source \"prometheus\" needs a [prometheus] table"],
    );
}

#[test]
fn an_unreachable_prometheus_is_reported_on_every_balancer_in_the_json() {
    // The lab's addresses exist only inside its namespaces: from here nothing answers.
    let o = lbdeck(&[
        "status",
        "--profile",
        "profiles/lab-haproxy-prom.toml",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["source"], "prometheus");
    for b in v["balancers"].as_array().expect("balancers") {
        assert_eq!(b["up"], false, "{b:#}");
        let error = b["error"].as_str().unwrap_or("");
        assert!(
            error.starts_with("Prometheus: http://10.77.0.2:9090: "),
            "{b:#}"
        );
        assert_eq!(b["vrrp"]["error"], b["error"], "{b:#}");
        assert!(b["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("Prometheus http://10.77.0.2:9090 instance 10.77.0.1")));
    }
    // Direct polling of the same profile is still a flag away.
    let o = lbdeck(&[
        "status",
        "--profile",
        "profiles/lab-haproxy-prom.toml",
        "--source",
        "direct",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["source"], "direct");
    assert_eq!(
        v["balancers"][0]["source"],
        "runtime API tcp://10.77.0.11:9999"
    );
}

/// `lbdeck` with no profile anywhere explains the first steps on one screen, exit 0.
#[test]
fn the_first_run_says_what_to_do_instead_of_an_error() {
    let home = tempfile::tempdir().expect("tempdir");
    let o = Command::new(env!("CARGO_BIN_EXE_lbdeck"))
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env_remove("LBDECK_PROFILE")
        .output()
        .expect("run lbdeck");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in [
        "no cluster profile yet",
        "lbdeck demo",
        "lbdeck init LB1 LB2",
        "lbdeck --profile NAME",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(out.lines().count() <= 24, "one screen:\n{out}");
}

/// The man page and the three shells' completions come from the binary itself.
#[test]
fn man_page_and_completions() {
    let o = lbdeck(&["man"]);
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && page.contains(".TH lbdeck 1"),
        "{page}"
    );
    assert!(
        page.contains("lbdeck\\-init") || page.contains("init"),
        "init is in the page"
    );
    for (shell, marker) in [
        ("bash", "complete -F _lbdeck"),
        ("zsh", "#compdef lbdeck"),
        ("fish", "complete -c lbdeck"),
    ] {
        let o = lbdeck(&["completions", shell]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains(marker),
            "{shell}: {text}"
        );
    }
}

/// `init` takes exactly the pair's two hosts.
#[test]
fn init_wants_two_hosts() {
    let o = lbdeck(&["init", "lb1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 values required") || err.contains("HOST"),
        "{err}"
    );
}
