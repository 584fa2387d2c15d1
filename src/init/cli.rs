//! The `init` command: read both nodes, write the profile (or print it), then check it.

use std::path::PathBuf;
use std::time::Duration;

use super::{read_node, write, Choice, Node};
use crate::config::profile::{BalancerKind, Profile, SshSettings};
use crate::ssh::{Pool, Resolver};

/// What `lbdeck init` was given.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// The two balancers (address or ssh_config alias).
    pub hosts: Vec<String>,
    /// What the operator chose (name, kind, instance, SSH settings).
    pub choice: Choice,
    /// Where to write (default: the config dir's `profiles/NAME.toml`).
    pub out: Option<PathBuf>,
    /// Print instead of writing.
    pub dry_run: bool,
    /// Overwrite an existing file.
    pub force: bool,
    /// How long each SSH step may take.
    pub timeout: Duration,
}

/// A profile name from the balancers' host names: their common stem (`lb` for lb1 and
/// lb2) and the kind.
fn default_name(nodes: &[Node], kind: Option<BalancerKind>) -> String {
    let names: Vec<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
    let first = names.first().copied().unwrap_or("");
    let mut stem: String = first
        .chars()
        .enumerate()
        .take_while(|(i, c)| names.iter().all(|n| n.chars().nth(*i) == Some(*c)))
        .map(|(_, c)| c)
        .collect();
    while stem.ends_with(|c: char| c.is_ascii_digit() || "-_.".contains(c)) {
        stem.pop();
    }
    let stem = if stem.is_empty() {
        "cluster".to_string()
    } else {
        stem
    };
    match kind {
        Some(k) => format!("{stem}-{k}"),
        None => stem,
    }
}

/// Runs `init`; returns the exit code: 0 written and every check passed (what was not
/// found and the differences are listed, for the operator to add), 1 written but a check
/// failed, 2 nothing written.
pub async fn run(mut args: Args) -> u8 {
    if args.hosts.len() != 2 {
        eprintln!("lbdeck init: give the pair's two balancers (HOST1 HOST2)");
        return 2;
    }
    let settings = SshSettings {
        user: args
            .choice
            .user
            .clone()
            .unwrap_or_else(|| SshSettings::default().user),
        identity_file: args.choice.identity_file.clone(),
        known_hosts: args
            .choice
            .known_hosts
            .clone()
            .unwrap_or_else(|| SshSettings::default().known_hosts),
        sudo: args.choice.sudo,
        ..SshSettings::default()
    };
    let resolver = Resolver::load(&settings);
    let addrs: Vec<_> = args.hosts.iter().map(|h| resolver.resolve(h)).collect();
    let pool = Pool::for_nodes(&settings, args.timeout, resolver, addrs.iter(), true);
    let reads = futures::future::join_all(args.hosts.iter().map(|h| read_node(&pool, h))).await;
    let mut nodes = Vec::new();
    let mut failed = false;
    for r in reads {
        match r {
            Ok(n) => nodes.push(n),
            Err(e) => {
                eprintln!("lbdeck init: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return 2;
    }
    if args.choice.name.is_empty() {
        let kind = args
            .choice
            .kind
            .or_else(|| match super::kinds(&nodes).as_slice() {
                [one] => Some(*one),
                _ => None,
            });
        args.choice.name = default_name(&nodes, kind);
    }
    let written = match write(&nodes, &args.choice) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("lbdeck init: {e}");
            return 2;
        }
    };
    let path = match (&args.out, args.dry_run) {
        (Some(p), _) => p.clone(),
        (None, _) => match crate::config::config_dir() {
            Some(dir) => dir
                .join("profiles")
                .join(format!("{}.toml", args.choice.name)),
            None => {
                eprintln!("lbdeck init: no config directory (HOME unset): give --out FILE");
                return 2;
            }
        },
    };
    let checked = if args.dry_run {
        crate::out!("{}", written.text);
        let Ok(dir) = tempfile::tempdir() else {
            return 2;
        };
        let tmp = dir.path().join(format!("{}.toml", args.choice.name));
        if std::fs::write(&tmp, &written.text).is_err() {
            return 2;
        }
        check(&tmp).await
    } else {
        if path.exists() && !args.force {
            eprintln!(
                "lbdeck init: {} exists; --force overwrites it, --dry-run prints the profile instead",
                path.display()
            );
            return 2;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("lbdeck init: cannot create {}: {e}", dir.display());
                return 2;
            }
        }
        if let Err(e) = std::fs::write(&path, &written.text) {
            eprintln!("lbdeck init: cannot write {}: {e}", path.display());
            return 2;
        }
        crate::outln!("wrote {}", path.display());
        check(&path).await
    };
    for d in &written.differences {
        crate::outln!("differs: {d}");
    }
    for m in &written.missing {
        crate::outln!("not found: {m}");
    }
    if checked {
        0
    } else {
        1
    }
}

/// `lbdeck check` on the written profile; true when everything answered.
async fn check(path: &std::path::Path) -> bool {
    let shown = path.display().to_string();
    match Profile::load(&shown) {
        Ok(loaded) => {
            let items = crate::check::run(&loaded.profile).await;
            crate::out!("{}", crate::check::human(&items));
            items.iter().all(|i| i.result.is_ok())
        }
        Err(e) => {
            eprintln!("lbdeck init: the profile written does not load: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(h: &str) -> Node {
        Node {
            hostname: h.into(),
            ..Node::default()
        }
    }

    #[test]
    fn the_default_name_is_the_common_stem_and_the_kind() {
        assert_eq!(
            default_name(&[node("lb1"), node("lb2")], Some(BalancerKind::Haproxy)),
            "lb-haproxy"
        );
        assert_eq!(
            default_name(&[node("edge-a"), node("edge-b")], None),
            "edge"
        );
        assert_eq!(
            default_name(&[node("alpha"), node("beta")], Some(BalancerKind::Nginx)),
            "cluster-nginx"
        );
    }
}
