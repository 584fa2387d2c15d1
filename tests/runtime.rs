//! `lbdeck runtime` against two stand-in HAProxy runtime APIs on loopback: each answer
//! under its balancer's name and sanitised, reads sent at once, a change confirmed and
//! audited, `--read-only` refusing a change (exit 3), and a balancer without a runtime
//! API saying why.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// A runtime API answering one command per connection as HAProxy does; every command
/// it got is kept in the returned list.
fn fake_haproxy(name: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let command = line.trim().to_string();
            let answer = match command.as_str() {
                "show info" => format!("Name: HAProxy\nNode: {name}\x1b]0;owned\x07\x1b[2J\n\n"),
                c if c.starts_with("set server ") => "\n".to_string(),
                _ => "Unknown command: 'bogus'\n\n".to_string(),
            };
            if let Ok(mut list) = seen.lock() {
                list.push(command);
            }
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (addr, got)
}

/// A profile of two HAProxy balancers at `lb1` and `lb2`, and an nginx one.
fn profile(dir: &Path, lb1: &str, lb2: &str) -> String {
    let p = dir.join("pair.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"pair\"\ntimeout = \"2s\"\n\
             [[balancers]]\nname = \"lb1\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\nruntime_api = \"tcp://{lb1}\"\n\
             [[balancers]]\nname = \"lb2\"\nhost = \"127.0.0.1\"\nkind = \"haproxy\"\nruntime_api = \"tcp://{lb2}\"\n\
             [[balancers]]\nname = \"web-edge\"\nhost = \"127.0.0.1\"\nkind = \"nginx\"\n\
             [[backends]]\nname = \"web1\"\naddress = \"127.0.0.1:9\"\n"
        ),
    )
    .expect("profile");
    p.display().to_string()
}

fn lbdeck(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lbdeck"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("LBDECK_PROFILE")
        .output()
        .expect("run lbdeck")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The audit log's lines.
fn audit(home: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(home.join("state/lbdeck/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn reads_answer_per_balancer_sanitised_and_unaudited() {
    let home = tempfile::tempdir().expect("tempdir");
    let ((a1, _), (a2, _)) = (fake_haproxy("one"), fake_haproxy("two"));
    let p = profile(home.path(), &a1, &a2);
    let o = lbdeck(
        home.path(),
        &[
            "runtime",
            "--profile",
            &p,
            "--balancer",
            "lb1",
            "show",
            "info",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "== lb1 ==\nName: HAProxy\nNode: one\\x1b]0;owned\\x07\\x1b[2J\n"
    );
    let o = lbdeck(home.path(), &["runtime", "--profile", &p, "show info"]);
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "not every balancer answered: {out}"
    );
    assert!(
        !out.contains('\x1b'),
        "an escape reached the terminal: {out}"
    );
    assert!(out.contains("== lb2 ==\nName: HAProxy\nNode: two"), "{out}");
    assert!(
        out.contains(
            "== web-edge ==\n✗ web-edge: nginx has no runtime API: the runtime prompt speaks \
             to HAProxy only"
        ),
        "{out}"
    );
    assert!(audit(home.path()).is_empty(), "reads are not audited");

    let o = lbdeck(
        home.path(),
        &["runtime", "--profile", &p, "--balancer", "lb2", "bogus"],
    );
    // `bogus` is a change as far as lbdeck knows: without a terminal it needs --yes.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = lbdeck(
        home.path(),
        &["runtime", "--profile", &p, "--balancer", "lb9", "help"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no balancer named \"lb9\"; known: lb1, lb2, web-edge"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_change_is_confirmed_sent_and_audited_and_read_only_refuses_it() {
    let home = tempfile::tempdir().expect("tempdir");
    let ((a1, got1), (a2, got2)) = (fake_haproxy("one"), fake_haproxy("two"));
    let p = profile(home.path(), &a1, &a2);
    let change = "set server be_web/web1 weight 50";
    let o = lbdeck(
        home.path(),
        &["--read-only", "runtime", "--profile", &p, "--yes", change],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("only show, get and help may be sent"),
        "{}",
        text(&o)
    );
    assert!(got1.lock().expect("list").is_empty(), "nothing was sent");
    let refused = audit(home.path());
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (&refused[0]["action"], &refused[0]["result"]),
        (&"runtime".into(), &"refused".into())
    );

    let to_lb1 = |confirm: &[&str]| {
        let mut args = vec!["runtime", "--profile", &p, "--balancer", "lb1"];
        args.extend(confirm);
        args.push(change);
        lbdeck(home.path(), &args)
    };
    // A profile is production unless it says otherwise: the balancer's name is typed.
    let o = to_lb1(&["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains(
            "runtime on lb1 'set server be_web/web1 weight 50' refused: pair is production: \
             without a terminal, pass --confirm lb1"
        ),
        "{}",
        text(&o)
    );
    let o = to_lb1(&["--confirm", "lb1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("runtime on lb1 'set server be_web/web1 weight 50': done"),
        "{}",
        text(&o)
    );
    assert_eq!(*got1.lock().expect("list"), vec![change.to_string()]);
    assert!(got2.lock().expect("list").is_empty(), "only lb1 was asked");
    let lines = audit(home.path());
    assert_eq!(lines.len(), 3, "one line per run");
    let done = &lines[2];
    assert_eq!(done["action"], "runtime");
    assert_eq!(done["argument"], change);
    assert_eq!(done["target"], "lb1");
    assert_eq!(done["result"], "done");
    assert_eq!(done["after"]["lb1"]["answer"], "");
}
