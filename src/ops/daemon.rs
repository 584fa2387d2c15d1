//! Starting and stopping keepalived the way the node runs it: `systemctl` where systemd
//! booted the node, else its init script through `service` (RHEL 6, Debian without
//! systemd), else the pid file to stop it and the binary to start it. The choice is made
//! on the node, in the command itself, so one command fits every family.

/// Where the node tells how it runs its daemons.
#[derive(Debug, Clone, Copy)]
struct Probe<'a> {
    /// Present only where systemd booted the node (what `sd_booted()` looks at).
    systemd: &'a str,
    /// keepalived's SysV init script.
    init_script: &'a str,
}

/// The stock paths.
const STOCK: Probe<'static> = Probe {
    systemd: "/run/systemd/system",
    init_script: "/etc/init.d/keepalived",
};

/// What the node offers: prints `systemctl`, `service` or `pid file`.
fn detect(p: Probe) -> String {
    format!(
        "if [ -d {} ]; then echo systemctl; \
         elif [ -x {} ] && command -v service >/dev/null 2>&1; then echo service; \
         else echo 'pid file'; fi",
        p.systemd, p.init_script
    )
}

/// The command that prints how keepalived is started and stopped on the node
/// (`systemctl`, `service` or `pid file`).
pub fn keepalived_control() -> String {
    detect(STOCK)
}

fn command(p: Probe, start: bool) -> String {
    let (verb, by_hand) = if start {
        ("start", "keepalived -f /etc/keepalived/keepalived.conf")
    } else {
        ("stop", "kill $(cat /run/keepalived.pid)")
    };
    // A keepalived the init system does not know of (started by hand) is still reached
    // by the pid file or the binary.
    format!(
        "case \"$({})\" in systemctl) systemctl {verb} keepalived 2>/dev/null || {by_hand};; \
         service) service keepalived {verb} 2>/dev/null || {by_hand};; *) {by_hand};; esac",
        detect(p)
    )
}

/// Stops (`start` false) or starts keepalived on the node by what it offers, by hand
/// where the init system refuses.
pub fn keepalived(start: bool) -> String {
    command(STOCK, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// Runs `script` with stand-in `systemctl`, `service` and `keepalived` first in PATH,
    /// each printing its name and arguments.
    fn run(dir: &Path, script: &str) -> String {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        for name in ["systemctl", "service", "keepalived"] {
            let f = bin.join(name);
            std::fs::write(&f, format!("#!/bin/sh\necho {name} \"$@\"\n")).expect("stand-in");
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .env("PATH", path)
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn each_family_is_driven_by_what_it_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let systemd = dir.path().join("run/systemd/system");
        let init = dir.path().join("etc/init.d/keepalived");
        let (s, i) = (systemd.display().to_string(), init.display().to_string());
        let p = Probe {
            systemd: &s,
            init_script: &i,
        };
        // Neither: the binary starts it (stopping needs the pid file, absent here).
        assert_eq!(run(dir.path(), &detect(p)), "pid file");
        assert_eq!(
            run(dir.path(), &command(p, true)),
            "keepalived -f /etc/keepalived/keepalived.conf"
        );
        // An init script: service.
        std::fs::create_dir_all(init.parent().expect("dir")).expect("dir");
        std::fs::write(&init, "#!/bin/sh\n").expect("script");
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(run(dir.path(), &detect(p)), "service");
        assert_eq!(
            run(dir.path(), &command(p, false)),
            "service keepalived stop"
        );
        // Booted by systemd: systemctl, whatever else is there.
        std::fs::create_dir_all(&systemd).expect("dir");
        assert_eq!(run(dir.path(), &detect(p)), "systemctl");
        assert_eq!(
            run(dir.path(), &command(p, false)),
            "systemctl stop keepalived"
        );
        assert_eq!(
            run(dir.path(), &command(p, true)),
            "systemctl start keepalived"
        );
    }
}
