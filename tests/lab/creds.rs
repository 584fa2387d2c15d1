//! Credentials as OpenSSH has them, against the lab's real sshd, logged in as `ops`: keys
//! from an ssh-agent the scenario starts (and kills), a key encrypted with a passphrase
//! typed into the prompt (the CLI and the console, in tmux), the password on lb2's
//! password-only sshd (:2222, reached by `Port` in ~/.ssh/config), ~/.ssh/config's User,
//! Port, IdentityFile and IdentitiesOnly; the sentence of each failure; and no secret in
//! the audit, the debug log or stderr.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{bin, Tmux};
use super::harness::{lab, root, state_dir};
use super::ops::Rules;
use super::{admin_bits, screen_row};

/// The passphrase of the scenarios' encrypted key.
const PASSPHRASE: &str = "correct horse 4 lbdeck";

/// The lab admin's key, authorized for root and `ops` on every node.
fn admin_key() -> PathBuf {
    Path::new(state_dir()).join("admin/id_ed25519")
}

/// The password of `ops` on lb2's password-only sshd, as the lab set it.
fn ops_password() -> String {
    let o = lab(&["ops-password"]);
    assert!(o.status.success(), "scripts/lab ops-password");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// An ssh-agent on a socket of its own, started for one scenario; killed when dropped,
/// also when the scenario fails.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let agent = Agent { child, dir };
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "ssh-agent made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    fn add(&self, key: &Path) {
        let o = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", self.socket())
            .output()
            .expect("ssh-add");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys made for one scenario in a directory of its own: one encrypted with
/// [`PASSPHRASE`] and authorized for `ops` on lb1 and lb2 while this lives, and one
/// authorized nowhere.
struct Keys {
    dir: tempfile::TempDir,
    saved: Vec<(PathBuf, Vec<u8>)>,
}

impl Keys {
    fn make() -> Keys {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, pass) in [("id_locked", PASSPHRASE), ("id_stranger", "")] {
            let o = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-C", name, "-N", pass, "-f"])
                .arg(dir.path().join(name))
                .output()
                .expect("ssh-keygen");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let public = std::fs::read(dir.path().join("id_locked.pub")).expect("public key");
        let mut saved = Vec::new();
        for node in ["lb1", "lb2"] {
            let file =
                Path::new(state_dir()).join(format!("nodes/{node}/etc/ssh/authorized_keys/ops"));
            let before = std::fs::read(&file).expect("authorized_keys");
            let mut after = before.clone();
            after.extend_from_slice(&public);
            std::fs::write(&file, after).expect("authorize the key");
            saved.push((file, before));
        }
        Keys { dir, saved }
    }

    fn locked(&self) -> PathBuf {
        self.dir.path().join("id_locked")
    }

    fn stranger(&self) -> PathBuf {
        self.dir.path().join("id_stranger")
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        for (file, before) in &self.saved {
            let _ = std::fs::write(file, before);
        }
    }
}

/// A home of its own for lbdeck (no ~/.ssh keys, its own ssh_config, log and audit), a
/// profile in it made from lab-haproxy-ops.toml, and the agent to use, if any.
struct Home {
    dir: tempfile::TempDir,
    profile: String,
    agent: Option<PathBuf>,
}

impl Home {
    /// `[ssh]` of lab-haproxy-ops.toml with `user`, `identity_file` (none: the line
    /// goes) and `password = true` when `password`.
    fn new(user: &str, identity_file: Option<&Path>, password: bool) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let text =
            std::fs::read_to_string(root().join("profiles/lab-haproxy-ops.toml")).expect("profile");
        let text: String =
            text.lines()
                .filter_map(|l| match l {
                    l if l.starts_with("user = ") => Some(format!("user = {user:?}")),
                    l if l.starts_with("identity_file = ") => identity_file
                        .map(|k| format!("identity_file = {:?}", k.display().to_string())),
                    "sudo = true" if password => Some("sudo = true\npassword = true".into()),
                    l => Some(l.to_string()),
                })
                .map(|l| l + "\n")
                .collect();
        let profile = dir.path().join("profile.toml");
        std::fs::write(&profile, text).expect("write profile");
        Home {
            profile: profile.display().to_string(),
            dir,
            agent: None,
        }
    }

    fn with_agent(mut self, agent: &Agent) -> Home {
        self.agent = Some(agent.socket());
        self
    }

    /// `text` as ~/.ssh/config.
    fn ssh_config(&self, text: &str) {
        std::fs::create_dir_all(self.path().join(".ssh")).expect("mkdir");
        std::fs::write(self.path().join(".ssh/config"), text).expect("ssh config");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment lbdeck runs in: this home, its state there, a trace log, the
    /// agent's socket or none.
    fn env(&self) -> Vec<String> {
        let mut env = vec![
            format!("HOME={}", self.path().display()),
            format!("XDG_STATE_HOME={}/state", self.path().display()),
            format!("XDG_CONFIG_HOME={}/config", self.path().display()),
            "LBDECK_LOG=trace".to_string(),
        ];
        if let Some(socket) = &self.agent {
            env.push(format!("SSH_AUTH_SOCK={}", socket.display()));
        }
        env
    }

    /// lbdeck on the admin node without a terminal, `args` then `--profile` this profile.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(root().join("scripts/lab"))
            .args(["admin", "env", "-u", "SSH_AUTH_SOCK"])
            .args(self.env())
            .arg(bin())
            .args(args)
            .args(["--profile", &self.profile])
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .expect("lbdeck")
    }

    /// The command line that runs lbdeck on the admin node in a terminal.
    fn command_line(&self, args: &str) -> String {
        format!(
            "cd {} && env -u SSH_AUTH_SOCK {} ip netns exec lbd-admin {} {args} --profile {}",
            root().display(),
            self.env().join(" "),
            bin(),
            self.profile
        )
    }

    /// lbdeck with `args` in a terminal (tmux), each question answered as it appears
    /// (a question asked again waits for its next appearance), stdout and stderr to
    /// files: exit code, stdout, stderr. The answers never show on the screen.
    fn typed(&self, args: &str, answers: &[(&str, &str)]) -> (i32, String, String) {
        let (out, err) = (self.path().join("out"), self.path().join("err"));
        let line = format!(
            "{} >{} 2>{}",
            self.command_line(args),
            out.display(),
            err.display()
        );
        let t = Tmux::start(&line, 160, 40);
        let mut asked: Vec<&str> = Vec::new();
        for (question, answer) in answers {
            asked.push(question);
            let times = asked.iter().filter(|q| *q == question).count();
            t.wait_for(question, Duration::from_secs(10), |s| {
                s.matches(question).count() >= times
            });
            t.type_text(answer);
            t.keys(&["Enter"]);
        }
        let screen = t.wait_for("lbdeck to end", Duration::from_secs(60), |s| {
            s.contains("EXITED ")
        });
        for (_, answer) in answers {
            assert!(
                !screen.contains(answer),
                "{answer:?} shown on the terminal:\n{screen}"
            );
        }
        let code = screen
            .split("EXITED ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(-1);
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (code, read(&out), read(&err))
    }

    /// Every file lbdeck wrote under its state directory (log, audit), as text.
    fn written(&self) -> String {
        let mut text = String::new();
        let mut dirs = vec![self.path().join("state")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    text.push_str(&String::from_utf8_lossy(
                        &std::fs::read(&p).unwrap_or_default(),
                    ));
                }
            }
        }
        text
    }

    /// No `secrets` in what lbdeck wrote or said; the audit and the log are there.
    fn assert_kept(&self, said: &str, secrets: &[&str]) {
        let state = self.path().join("state/lbdeck");
        assert!(
            state.join("lbdeck.log").exists(),
            "no log in {}",
            state.display()
        );
        let written = self.written();
        for s in secrets {
            assert!(!said.contains(s), "{s:?} in what lbdeck said:\n{said}");
            assert!(
                !written.contains(s),
                "{s:?} in lbdeck's files under {}",
                state.display()
            );
        }
    }
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

/// The pair's roles as `status --json` read them (lb1 MASTER, lb2 BACKUP, no error).
fn assert_roles(v: &Value) {
    for (i, role) in [(0, "MASTER"), (1, "BACKUP")] {
        assert_eq!(v["balancers"][i]["vrrp"]["role"], role, "{v:#}");
    }
}

/// The SSH error `status --json` gives for balancer `i`.
fn ssh_error(v: &Value, i: usize) -> String {
    v["balancers"][i]["vrrp"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn status(home: &Home) -> Value {
    let o = home.run(&["status", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    json(&String::from_utf8_lossy(&o.stdout))
}

/// `ops` through an ssh-agent holding its key, the profile naming none: `check` logs in
/// on both balancers, `status` reads the roles, a drain and an undrain act on both.
pub fn creds_agent_status_check_and_drain() {
    let _rules = Rules::printed();
    let agent = Agent::start();
    agent.add(&admin_key());
    let home = Home::new("ops", None, false).with_agent(&agent);
    assert_roles(&status(&home));
    let o = home.run(&["check"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for need in [
        "✓ SSH login as ops@10.77.0.11",
        "✓ SSH login as ops@10.77.0.12",
    ] {
        assert!(out.contains(need), "{need:?} not in:\n{out}");
    }
    let o = home.run(&["drain", "web2", "--yes"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        admin_bits("web2"),
        vec!["8", "8"],
        "DRAIN on both balancers"
    );
    let o = home.run(&["undrain", "web2", "--yes"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "back in rotation");
}

/// Each way a login fails says which: an agent with no keys, nothing at all to log in
/// with, a password-only server and no password.
pub fn creds_each_failure_is_named() {
    let _rules = Rules::printed();
    let agent = Agent::start();
    let home = Home::new("ops", None, false).with_agent(&agent);
    let v = status(&home);
    assert_eq!(
        ssh_error(&v, 0),
        format!(
            "ssh ops@10.77.0.11: the ssh-agent at {} holds no keys and no key file or password \
             was offered: add a key to it with ssh-add, or name one with identity_file in [ssh]",
            agent.socket().display()
        ),
        "{v:#}"
    );
    let bare = Home::new("ops", None, false);
    let v = status(&bare);
    assert_eq!(
        ssh_error(&v, 0),
        "ssh ops@10.77.0.11: nothing to log in with: no ssh-agent (SSH_AUTH_SOCK is not set); \
         no key file (none named by identity_file or IdentityFile, and no ~/.ssh/id_ed25519, \
         id_ecdsa or id_rsa)",
        "{v:#}"
    );
    // lb2 on its password-only sshd, and no password asked for.
    let keyed = Home::new("ops", Some(&admin_key()), false);
    keyed.ssh_config("Host 10.77.0.12\n    Port 2222\n");
    let v = status(&keyed);
    assert_eq!(v["balancers"][0]["vrrp"]["role"], "MASTER", "{v:#}");
    assert_eq!(
        ssh_error(&v, 1),
        "ssh ops@[10.77.0.12]:2222: the server accepts only a password and none was given: \
         set password = true in [ssh] to be asked for it at start",
        "{v:#}"
    );
}

/// A key encrypted with a passphrase, named by `identity_file`: the passphrase typed on
/// the terminal (a wrong one first: asked again), never echoed; `status` and a drain
/// work with it. Three wrong ones leave it locked, and the refusal says so. The
/// passphrase is in none of lbdeck's output, log or audit. With the same key in
/// ssh-agent, nothing is asked.
pub fn creds_passphrase_typed_on_the_cli() {
    let _rules = Rules::printed();
    let keys = Keys::make();
    let home = Home::new("ops", Some(&keys.locked()), false);
    let asked = format!("lbdeck: passphrase for {}", keys.locked().display());
    let again = "lbdeck: wrong passphrase, try again for";
    let (code, out, err) = home.typed(
        "status --json",
        &[(asked.as_str(), "not the passphrase"), (again, PASSPHRASE)],
    );
    assert_eq!(code, 0, "{err}");
    assert_roles(&json(&out));
    let (code, out, err) = home.typed("drain web2 --yes", &[(asked.as_str(), PASSPHRASE)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(admin_bits("web2"), vec!["8", "8"], "{out}");
    let (code, out, err) = home.typed("undrain web2 --yes", &[(asked.as_str(), PASSPHRASE)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "{out}");
    let (_, out, err) = home.typed(
        "status --json",
        &[
            (asked.as_str(), "wrong 1"),
            (again, "wrong 2"),
            (again, "wrong 3"),
        ],
    );
    let v = json(&out);
    assert_eq!(
        ssh_error(&v, 0),
        format!(
            "ssh ops@10.77.0.11: wrong passphrase for {}: the key stayed locked and was not \
             offered (start lbdeck again to retype it)",
            keys.locked().display()
        ),
        "{v:#}"
    );
    home.assert_kept(
        &format!("{out}{err}"),
        &[PASSPHRASE, "wrong 1", "not the passphrase"],
    );
    // The same key in ssh-agent: the agent signs, the passphrase is not asked.
    let agent = Agent::start();
    let unlocked = keys.dir.path().join("id_unlocked");
    std::fs::copy(keys.locked(), &unlocked).expect("copy key");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", PASSPHRASE, "-N", "", "-f"])
        .arg(&unlocked)
        .output()
        .expect("ssh-keygen -p");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    agent.add(&unlocked);
    let home = Home::new("ops", Some(&keys.locked()), false).with_agent(&agent);
    let (code, out, err) = home.typed("status --json", &[]);
    assert_eq!(code, 0, "{err}");
    assert_roles(&json(&out));
}

/// ~/.ssh/config decides: `User ops` over the profile's root, `IdentityFile` an
/// encrypted key (passphrase typed), `IdentitiesOnly yes` (the agent's key, which sshd
/// would take, is not offered), and `Port 2222` for lb2, whose sshd there takes only a
/// password (typed). `status` reads both balancers, a drain and an undrain act on both,
/// and neither secret is in lbdeck's output, log or audit. A key sshd does not know,
/// under IdentitiesOnly, is refused with what was offered; without IdentitiesOnly the
/// agent's key gets in.
pub fn creds_ssh_config_user_port_identity_and_password() {
    let _rules = Rules::printed();
    let keys = Keys::make();
    let agent = Agent::start();
    agent.add(&admin_key());
    let password = ops_password();
    let home = Home::new("root", None, true).with_agent(&agent);
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir");
    std::fs::copy(keys.locked(), home.path().join(".ssh/id_ops")).expect("copy key");
    std::fs::copy(
        keys.dir.path().join("id_locked.pub"),
        home.path().join(".ssh/id_ops.pub"),
    )
    .expect("copy key");
    home.ssh_config(
        "Host 10.77.0.12\n    Port 2222\n\
         Host 10.77.0.*\n    User ops\n    IdentityFile ~/.ssh/id_ops\n    IdentitiesOnly yes\n",
    );
    let asked = format!(
        "lbdeck: passphrase for {}",
        home.path().join(".ssh/id_ops").display()
    );
    let answers = [
        (asked.as_str(), PASSPHRASE),
        ("lbdeck: SSH password", password.as_str()),
    ];
    let (code, out, err) = home.typed("status --json", &answers);
    assert_eq!(code, 0, "{err}");
    assert_roles(&json(&out));
    let (code, out, err) = home.typed("drain web2 --yes", &answers);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(admin_bits("web2"), vec!["8", "8"], "{out}");
    let (code, out, err) = home.typed("undrain web2 --yes", &answers);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(admin_bits("web2"), vec!["0", "0"], "{out}");
    home.assert_kept(&format!("{out}{err}"), &[PASSPHRASE, &password]);
    let audit =
        std::fs::read_to_string(home.path().join("state/lbdeck/audit.jsonl")).expect("audit");
    assert!(audit.contains("undrain"), "{audit}");

    let stranger = Home::new("root", None, false).with_agent(&agent);
    let config = |only: &str| {
        format!(
            "Host 10.77.0.*\n    User ops\n    IdentityFile {}\n{only}",
            keys.stranger().display()
        )
    };
    stranger.ssh_config(&config("    IdentitiesOnly yes\n"));
    let v = status(&stranger);
    assert_eq!(
        ssh_error(&v, 0),
        format!(
            "ssh ops@10.77.0.11: authentication refused (offered {}; IdentitiesOnly yes kept \
             ssh-agent's 1 key back)",
            keys.stranger().display()
        ),
        "{v:#}"
    );
    stranger.ssh_config(&config(""));
    assert_roles(&status(&stranger));
}

/// The console with the ssh_config above: the passphrase and the password asked on the
/// terminal before the screen is taken (masked), then the roles on screen, and a shell
/// on lb2 by password (`s`) that runs as ops; the secrets stay out of its log.
pub fn creds_console_asks_then_shells_by_password() {
    let _rules = Rules::printed();
    let keys = Keys::make();
    let password = ops_password();
    let home = Home::new("root", None, true);
    home.ssh_config(&format!(
        "Host 10.77.0.12\n    Port 2222\nHost 10.77.0.*\n    User ops\n    IdentityFile {}\n",
        keys.locked().display()
    ));
    let t = Tmux::start(&home.command_line(""), 120, 32);
    t.wait_for("the passphrase asked", Duration::from_secs(10), |s| {
        s.contains("lbdeck: passphrase for")
    });
    t.type_text(PASSPHRASE);
    t.keys(&["Enter"]);
    t.wait_for("the password asked", Duration::from_secs(10), |s| {
        s.contains("lbdeck: SSH password")
    });
    t.type_text(&password);
    t.keys(&["Enter"]);
    t.wait_for("roles on screen", Duration::from_secs(10), |s| {
        screen_row(s, "lb1").contains("MASTER") && screen_row(s, "lb2").contains("BACKUP")
    });
    // Balancers pane (Tab twice from Backends), second row: lb2.
    t.keys(&["Tab"]);
    t.keys(&["Tab"]);
    t.keys(&["j"]);
    t.keys(&["s"]);
    std::thread::sleep(Duration::from_millis(500));
    t.type_text("echo on-$(hostname)-as-$(id -un)-$((6*7))");
    t.keys(&["Enter"]);
    t.wait_for(
        "the command ran on lb2 as ops",
        Duration::from_secs(5),
        |s| s.contains("on-lb2-as-ops-42"),
    );
    t.type_text("exit");
    t.keys(&["Enter"]);
    let s = t.wait_for("the console back", Duration::from_secs(5), |s| {
        s.contains("shell on balancer lb2 ended (exit 0)")
    });
    for secret in [PASSPHRASE, password.as_str()] {
        assert!(!s.contains(secret), "{secret:?} on screen:\n{s}");
    }
    t.keys(&["q"]);
    t.wait_for("exit", Duration::from_secs(5), |s| s.contains("EXITED 0"));
    home.assert_kept("", &[PASSPHRASE, &password]);
}

/// lb1 refusing SSH from the admin node while this lives: only a hop reaches it.
struct Cut;

impl Cut {
    fn lb1_ssh_from_admin() -> Cut {
        let o = lab(&[
            "exec",
            "lb1",
            "sh",
            "-c",
            "nft add table inet lbdcreds && \
             nft 'add chain inet lbdcreds input { type filter hook input priority 0; }' && \
             nft add rule inet lbdcreds input ip saddr 10.77.0.2 tcp dport 22 drop",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Cut
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = lab(&["exec", "lb1", "nft", "delete", "table", "inet", "lbdcreds"]);
    }
}

/// `ProxyJump` from ~/.ssh/config as `ops` through the agent: with lb1 closed to the
/// admin node, lb1 is reached through web1 (the jump logs in as `ops` too, by the
/// `User` of the same Host block); without the jump, lb1 cannot be read.
pub fn creds_proxyjump_as_ops_through_the_agent() {
    let _rules = Rules::printed();
    let agent = Agent::start();
    agent.add(&admin_key());
    let home = Home::new("root", None, false).with_agent(&agent);
    let _cut = Cut::lb1_ssh_from_admin();
    home.ssh_config("Host 10.77.0.*\n    User ops\n");
    let v = status(&home);
    assert!(
        v["balancers"][0]["vrrp"]["role"] != "MASTER" && !ssh_error(&v, 0).is_empty(),
        "lb1 is closed to the admin node: {v:#}"
    );
    home.ssh_config("Host 10.77.0.11\n    ProxyJump 10.77.0.21\nHost 10.77.0.*\n    User ops\n");
    assert_roles(&status(&home));
}
