//! Lab scenario for the detail view: Enter on a backend in the console, on the HAProxy
//! pair and on the nginx pair.

use std::time::Duration;

use super::{console, upstream_file};

/// The lines of a screen that contain `needle`.
fn count(screen: &str, needle: &str) -> usize {
    screen.lines().filter(|l| l.contains(needle)).count()
}

/// Enter on web2 opens its detail. On the HAProxy pair: both balancers, each with the
/// check HAProxy ran and how long it took, the initial weight from `show servers state`
/// and the bytes it counted. On the nginx pair: each balancer's `path:line` of web2's
/// server line and the line a drain would write, as the file on the node has it.
pub fn detail_view_shows_both_balancers() {
    let home = tempfile::tempdir().expect("tempdir");
    let t = console("lab-haproxy", 100, 40, &home);
    t.keys(&["j"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("web2's detail", Duration::from_secs(3), |s| {
        s.contains("Detail web2")
            && count(s, "check      L7OK · took ") == 2
            && count(s, " initial") == 2
    });
    for words in ["lb1 · haproxy", "lb2 · haproxy", "DETAIL", "bytes      in "] {
        assert!(s.contains(words), "{words:?}:\n{s}");
    }
    assert!(
        s.contains("latency      our probe ")
            && s.contains("· lb1 check ")
            && s.contains("· lb2 check "),
        "our probe next to both checks:\n{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("closed", Duration::from_secs(2), |s| !s.contains("DETAIL"));
    t.keys(&["q"]);

    let text = std::fs::read_to_string(upstream_file("lb1")).expect("lb1's upstream file");
    let (at, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("server 10.77.0.22:80 "))
        .expect("web2's line");
    let drained = line.replacen(';', " down;", 1);
    let t = console("lab", 100, 40, &home);
    t.keys(&["j"]);
    t.keys(&["Enter"]);
    let s = t.wait_for(
        "web2's lines on both balancers",
        Duration::from_secs(5),
        |s| {
            count(
                s,
                &format!("file       /etc/nginx/conf.d/upstream.conf:{}", at + 1),
            ) == 2
        },
    );
    assert_eq!(count(&s, "a drain (d) changes this line:"), 2, "{s}");
    assert_eq!(count(&s, &format!("-{line}")), 2, "{s}");
    assert_eq!(count(&s, &format!("+{drained}")), 2, "{s}");
    assert!(
        s.contains("lb1 · nginx") && s.contains("lb2 · nginx"),
        "{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("closed", Duration::from_secs(2), |s| !s.contains("DETAIL"));
    t.keys(&["q"]);
}
