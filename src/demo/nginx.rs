//! Simulated nginx open source on the demo balancers: the upstream file on each node's
//! disk, the edit lbdeck sends to drain (backup, atomic write, `nginx -t`, reload or roll
//! back), and what the reload does — a server marked `down` gets no new request from
//! that balancer.

use super::Sim;
use crate::model::ServerState;

/// The upstream file on the demo balancers: where lbdeck looks when the profile names none.
pub const UPSTREAM_FILE: &str = crate::config::profile::DEFAULT_UPSTREAM_FILE;

/// The upstream file a demo balancer starts with: one `server` line per backend.
pub fn upstream_conf<'a>(upstream: &str, addresses: impl Iterator<Item = &'a str>) -> String {
    let mut text = format!(
        "# The demo's backends (lbdeck marks a server `down` here to drain it).\n\
         upstream {upstream} {{\n    zone {upstream} 64k;\n"
    );
    for a in addresses {
        text.push_str(&format!("    server {a} max_fails=1 fail_timeout=2s;\n"));
    }
    text.push_str("}\n");
    text
}

/// Parameters nginx accepts on an upstream `server` line.
const SERVER_PARAMS: [&str; 9] = [
    "weight=",
    "max_conns=",
    "max_fails=",
    "fail_timeout=",
    "backup",
    "down",
    "resolve",
    "route=",
    "slow_start=",
];

/// Whether `param` is the flag `known`, or sets the `known=` parameter.
fn known(param: &str, known: &str) -> bool {
    param == known || (known.ends_with('=') && param.starts_with(known))
}

/// Directives the demo's upstream block may hold besides `server`.
const BLOCK_DIRECTIVES: [&str; 5] = ["zone", "ip_hash", "least_conn", "hash", "keepalive"];

/// One `server` line as `nginx -t` read it: address, `down`, weight.
type ServerLine = (String, bool, u32);

/// What `nginx -t` says of the file: each server's address, `down` flag and weight in
/// `upstream`, or nginx's `[emerg]` line.
pub fn test(file: &str, text: &str, upstream: &str) -> Result<Vec<ServerLine>, String> {
    let emerg = |line: usize, what: String| format!("nginx: [emerg] {what} in {file}:{line}");
    let mut servers = Vec::new();
    let mut depth = 0usize;
    let mut inside = false;
    let mut line = 1;
    let mut statement = String::new();
    for c in text.chars() {
        match c {
            '#' if statement.trim().is_empty() => statement = "#".into(),
            '\n' if statement.starts_with('#') => statement.clear(),
            '{' | '}' | ';' if statement.starts_with('#') => {}
            '{' => {
                let words: Vec<&str> = statement.split_whitespace().collect();
                if depth == 0 && words == ["upstream", upstream] {
                    inside = true;
                }
                depth += 1;
                statement.clear();
            }
            '}' => {
                if depth == 0 {
                    return Err(emerg(line, "unexpected \"}\"".into()));
                }
                depth -= 1;
                inside = inside && depth > 0;
                statement.clear();
            }
            ';' => {
                let words: Vec<&str> = statement.split_whitespace().collect();
                if inside && depth == 1 {
                    match words.as_slice() {
                        ["server", address, params @ ..] => {
                            if let Some(p) = params
                                .iter()
                                .find(|p| !SERVER_PARAMS.iter().any(|k| known(p, k)))
                            {
                                return Err(emerg(line, format!("invalid parameter \"{p}\"")));
                            }
                            let weight = params
                                .iter()
                                .find_map(|p| p.strip_prefix("weight="))
                                .map_or(Ok(1), |w| match w.parse::<u32>() {
                                    Ok(n) if n > 0 => Ok(n),
                                    _ => Err(emerg(
                                        line,
                                        format!("invalid parameter \"weight={w}\""),
                                    )),
                                })?;
                            servers.push((address.to_string(), params.contains(&"down"), weight));
                        }
                        [d, ..] if BLOCK_DIRECTIVES.contains(d) => {}
                        [d, ..] => {
                            return Err(emerg(line, format!("unknown directive \"{d}\"")));
                        }
                        [] => {}
                    }
                }
                statement.clear();
            }
            c => statement.push(c),
        }
        if c == '\n' {
            line += 1;
        }
    }
    if depth > 0 {
        return Err(emerg(
            line,
            "unexpected end of file, expecting \"}\"".into(),
        ));
    }
    Ok(servers)
}

/// `nginx -s reload` on balancer `lb`: the new workers send no request to a server marked
/// `down` (nginx open source has no drain: `down` is maintenance) and share by weight.
fn reload(sim: &mut Sim, lb: usize, servers: &[ServerLine]) {
    for (address, down, weight) in servers {
        if let Some(b) = sim.backends.iter_mut().find(|b| &b.address == address) {
            b.weight[lb] = *weight;
            b.admin[lb] = if *down {
                ServerState::Maint
            } else {
                ServerState::Up
            };
        }
    }
}

/// One shell word at the start of `s` (plain or single-quoted, `'\''` included) and what
/// follows it.
pub(super) fn shell_word(s: &str) -> (String, &str) {
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => word.extend(chars.next().map(|(_, n)| n)),
            c if !quoted && (c.is_whitespace() || c == ';') => return (word, &s[i..]),
            c => word.push(c),
        }
    }
    (word, "")
}

/// The value a script assigns to `name` (`name=WORD;`).
fn assigned(script: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=");
    let (at, _) = script.match_indices(&pattern).find(|(at, _)| {
        script[..*at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ';')
    })?;
    Some(shell_word(&script[at + pattern.len()..]).0)
}

/// Runs what lbdeck sends to read or edit a file on demo balancer `lb`: `cat FILE`, and
/// the drain edit (backup, the new text from `input` written, `nginx -t`, then reload or
/// roll back). None for any other command.
pub fn run(
    sim: &mut Sim,
    lb: usize,
    upstream: &str,
    cmd: &str,
    input: &[u8],
) -> Option<(String, u32)> {
    if let Some(rest) = cmd.strip_prefix("cat ") {
        let (path, tail) = shell_word(rest.trim_start());
        if !tail.trim().is_empty() {
            return None;
        }
        return Some(match sim.files[lb].get(&path) {
            Some(text) => (text.clone(), 0),
            None => (format!("cat: {path}: No such file or directory\n"), 1),
        });
    }
    if is_edit(cmd) {
        return Some(edit(sim, lb, upstream, cmd, input));
    }
    if cmd.trim() == "nginx -T" {
        // Every file under /etc/nginx, each after the marker nginx prints before it.
        let dump = sim.files[lb]
            .iter()
            .filter(|(path, _)| path.starts_with("/etc/nginx/"))
            .map(|(path, text)| format!("# configuration file {path}:\n{text}\n"))
            .collect();
        return Some((dump, 0));
    }
    None
}

/// Whether `cmd` is the drain edit, which reads the file's new text on its stdin.
pub fn is_edit(cmd: &str) -> bool {
    cmd.contains("cat > ") && cmd.contains("nginx -s reload")
}

/// The drain edit: the new text (the script's stdin) replaces the file after a timed
/// backup in the script's backup directory; `nginx -t` decides between reload
/// (`LBDECK-OK`) and putting the backup back (`LBDECK-ROLLED-BACK` and the emerg line).
fn edit(sim: &mut Sim, lb: usize, upstream: &str, script: &str, input: &[u8]) -> (String, u32) {
    let (Some(file), Some(dir)) = (assigned(script, "f"), assigned(script, "d")) else {
        return ("sh: demo: the edit names no file\n".into(), 2);
    };
    let Some(old) = sim.files[lb].get(&file).cloned() else {
        return (
            format!("cp: cannot stat '{file}': No such file or directory\n"),
            1,
        );
    };
    let Ok(new) = String::from_utf8(input.to_vec()) else {
        return ("demo: the upstream file holds text\n".into(), 1);
    };
    let name = file.rsplit('/').next().unwrap_or(&file);
    let stamp = chrono::Local::now().format("%Y%m%dT%H%M%S.%f");
    sim.files[lb].insert(format!("{dir}/{name}.{stamp}.bak"), old.clone());
    sim.files[lb].insert(file.clone(), new.clone());
    match test(&file, &new, upstream) {
        Ok(servers) => {
            reload(sim, lb, &servers);
            ("LBDECK-OK\n".into(), 0)
        }
        Err(emerg) => {
            sim.files[lb].insert(file, old);
            (format!("LBDECK-ROLLED-BACK\n{emerg}\n"), 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::upstream::set_down;

    fn demo_sim() -> Sim {
        let mut sim = Sim::with_addresses(3);
        let conf = upstream_conf("be_web", sim.backends.iter().map(|b| b.address.as_str()));
        for files in &mut sim.files {
            files.insert(UPSTREAM_FILE.into(), conf.clone());
        }
        sim
    }

    /// The edit lbdeck sends, the new text on its stdin.
    fn edit(sim: &mut Sim, lb: usize, file: &str, text: &str) -> Option<(String, u32)> {
        let script = crate::ops::drain::edit_script(file, "/var/backups/lbdeck");
        run(sim, lb, "be_web", &script, text.as_bytes())
    }

    #[test]
    fn nginx_dash_t_shows_the_file_that_defines_the_upstream() {
        let mut sim = demo_sim();
        let conf = sim.files[0].remove(UPSTREAM_FILE).expect("conf");
        sim.files[0].insert("/etc/nginx/upstreams/web.conf".into(), conf);
        sim.files[0].insert("/etc/nginx/nginx.conf".into(), "events {}\n".into());
        let (dump, status) = run(&mut sim, 0, "be_web", "nginx -T", b"").expect("simulated");
        assert_eq!(status, 0);
        assert_eq!(
            crate::ops::upstream::file_defining(&dump, "be_web").as_deref(),
            Ok("/etc/nginx/upstreams/web.conf")
        );
    }

    #[test]
    fn a_down_flag_takes_effect_on_reload_on_that_balancer_only() {
        let mut sim = demo_sim();
        let (text, status) = run(&mut sim, 0, "be_web", &format!("cat {UPSTREAM_FILE}"), b"")
            .expect("cat is simulated");
        assert_eq!(status, 0);
        let drained = set_down(&text, "be_web", "127.0.0.22:80", true).expect("edit");
        let out = edit(&mut sim, 0, UPSTREAM_FILE, &drained);
        assert_eq!(out, Some(("LBDECK-OK\n".into(), 0)));
        assert_eq!(sim.files[0].get(UPSTREAM_FILE), Some(&drained));
        assert_eq!(
            sim.files[0]
                .keys()
                .filter(|k| k.starts_with("/var/backups/lbdeck/upstream.conf."))
                .count(),
            1,
            "one timed backup, outside conf.d"
        );
        assert_eq!(sim.backends[1].admin, [ServerState::Maint, ServerState::Up]);
        assert_eq!(
            sim.requests_over(1, 0, 5.0),
            0,
            "no request after the reload"
        );
        assert!(sim.backends[0].stot[0] > 0);
    }

    #[test]
    fn nginx_t_refuses_a_bad_file_and_the_edit_is_rolled_back() {
        let mut sim = demo_sim();
        let good = sim.files[1][UPSTREAM_FILE].clone();
        let bad = good.replace("max_fails=1", "max_fails=1 downtime");
        let (out, status) = edit(&mut sim, 1, UPSTREAM_FILE, &bad).expect("simulated");
        assert_eq!(status, 0);
        assert_eq!(
            out,
            format!(
                "LBDECK-ROLLED-BACK\nnginx: [emerg] invalid parameter \"downtime\" in {UPSTREAM_FILE}:4\n"
            )
        );
        assert_eq!(sim.files[1][UPSTREAM_FILE], good);
        assert!(test(UPSTREAM_FILE, "upstream be_web {\n server a:1;\n", "be_web").is_err());
        assert_eq!(
            run(&mut sim, 0, "be_web", "cat /etc/nginx/nginx.conf", b""),
            Some((
                "cat: /etc/nginx/nginx.conf: No such file or directory\n".into(),
                1
            ))
        );
        assert_eq!(run(&mut sim, 0, "be_web", "uptime", b""), None);
    }
}
