//! What `init` needs from keepalived.conf (and its `include`s): each `vrrp_instance`, the
//! track files it follows, the notify FIFO and notify scripts.

use super::conf::{walk, Directive};

/// One `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its name (`VI_1`).
    pub name: String,
    /// `interface`.
    pub interface: Option<String>,
    /// `virtual_router_id`.
    pub vrid: Option<u8>,
    /// `priority` (keepalived's default is 100).
    pub priority: u8,
    /// `state` as configured.
    pub state: Option<String>,
    /// `nopreempt` is set.
    pub nopreempt: bool,
    /// The virtual addresses, without prefix length (`10.0.0.100`).
    pub vips: Vec<String>,
    /// Track files it follows: the `vrrp_track_file` name and the weight (the instance's
    /// own `weight` override, else the track file's).
    pub track_files: Vec<(String, i64)>,
    /// `notify` script of the instance.
    pub notify: Option<String>,
    /// Where it is (`file:line`).
    pub at: String,
}

/// One `vrrp_track_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// Its name.
    pub name: String,
    /// `file`.
    pub path: String,
    /// `weight` (keepalived's default 0: a non-zero value puts the instance in FAULT).
    pub weight: i64,
    /// Where it is.
    pub at: String,
}

/// keepalived's configuration on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keepalived {
    /// Every `vrrp_instance`.
    pub instances: Vec<Instance>,
    /// Every `vrrp_track_file`.
    pub track_files: Vec<TrackFile>,
    /// `notify_fifo` (global_defs), with where it is.
    pub notify_fifo: Option<(String, String)>,
}

/// The `include` patterns in a keepalived file, in order.
pub fn includes(roots: &[Directive]) -> Vec<String> {
    walk(roots)
        .into_iter()
        .filter(|d| d.name() == "include")
        .filter_map(|d| d.arg(0).map(str::to_string))
        .collect()
}

/// Reads the directives of keepalived.conf and its includes.
pub fn read(roots: &[Directive]) -> Keepalived {
    let all = walk(roots);
    let mut k = Keepalived::default();
    for d in &all {
        match d.name() {
            "notify_fifo" => {
                if let Some(p) = d.arg(0) {
                    k.notify_fifo = Some((p.to_string(), d.at()));
                }
            }
            "vrrp_track_file" if d.block.is_some() => {
                let Some(name) = d.arg(0) else { continue };
                let Some(path) = d.first("file").and_then(|f| f.arg(0)) else {
                    continue;
                };
                k.track_files.push(TrackFile {
                    name: name.to_string(),
                    path: path.to_string(),
                    weight: d
                        .first("weight")
                        .and_then(|w| w.arg(0)?.parse().ok())
                        .unwrap_or(0),
                    at: d.at(),
                });
            }
            _ => {}
        }
    }
    for d in all
        .iter()
        .filter(|d| d.name() == "vrrp_instance" && d.block.is_some())
    {
        let word = |name: &str| d.first(name).and_then(|x| x.arg(0)).map(str::to_string);
        let vips = d
            .first("virtual_ipaddress")
            .map(|v| {
                v.children()
                    .iter()
                    .filter_map(|a| a.words.first())
                    .map(|a| a.split('/').next().unwrap_or(a).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let track_files = d
            .first("track_file")
            .map(|t| {
                t.children()
                    .iter()
                    .filter_map(|e| {
                        let name = e.words.first()?.clone();
                        let own = e
                            .words
                            .iter()
                            .position(|w| w == "weight")
                            .and_then(|i| e.words.get(i + 1)?.parse().ok());
                        let weight = own.or_else(|| {
                            k.track_files
                                .iter()
                                .find(|f| f.name == name)
                                .map(|f| f.weight)
                        })?;
                        Some((name, weight))
                    })
                    .collect()
            })
            .unwrap_or_default();
        k.instances.push(Instance {
            name: d.arg(0).unwrap_or("").to_string(),
            interface: word("interface"),
            vrid: word("virtual_router_id").and_then(|v| v.parse().ok()),
            priority: word("priority").and_then(|v| v.parse().ok()).unwrap_or(100),
            state: word("state"),
            nopreempt: d.first("nopreempt").is_some(),
            vips,
            track_files,
            notify: word("notify"),
            at: d.at(),
        });
    }
    k
}

/// The value to write into a track file of `weight` so a MASTER at `master` falls below a
/// BACKUP at `backup`: a round figure (as operators write it, e.g. `-100`) comfortably past
/// the gap, or `1` where the weight is 0 (any non-zero value means FAULT).
pub fn failover_value(weight: i64, master: u8, backup: u8) -> i64 {
    if weight == 0 {
        return 1;
    }
    let gap = i64::from(master) - i64::from(backup) + 1;
    let needed = (gap.max(1) + weight.abs() - 1) / weight.abs();
    let round = [10, 50, 100, 200]
        .into_iter()
        .find(|r| *r >= needed)
        .unwrap_or(needed);
    // A weight·value below -253 means FAULT in keepalived too, which also moves the VIP.
    if weight > 0 {
        -round
    } else {
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::conf::{parse, Style};

    const LAB: &str = "global_defs {\n    router_id lb1\n    notify_fifo /run/keepalived.fifo\n}\nvrrp_track_file maint {\n    file /etc/keepalived/maintenance\n    weight 1\n}\nvrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 77\n    priority 150\n    advert_int 1\n    virtual_ipaddress {\n        10.77.0.100/24 dev eth0\n    }\n    track_file {\n        maint\n    }\n}\n";

    #[test]
    fn the_lab_config_gives_instance_vip_track_file_and_fifo() {
        let k =
            read(&parse(LAB, "/etc/keepalived/keepalived.conf", Style::Keepalived).expect("ok"));
        assert_eq!(
            k.notify_fifo,
            Some((
                "/run/keepalived.fifo".into(),
                "/etc/keepalived/keepalived.conf:3".into()
            ))
        );
        assert_eq!(k.track_files.len(), 1);
        assert_eq!(k.track_files[0].path, "/etc/keepalived/maintenance");
        let i = &k.instances[0];
        assert_eq!(
            (
                i.name.as_str(),
                i.vrid,
                i.priority,
                i.vips.clone(),
                i.track_files.clone()
            ),
            (
                "VI_1",
                Some(77),
                150,
                vec!["10.77.0.100".to_string()],
                vec![("maint".to_string(), 1)]
            )
        );
        assert_eq!(i.at, "/etc/keepalived/keepalived.conf:9");
    }

    #[test]
    fn the_failover_value_passes_the_gap_in_round_figures() {
        assert_eq!(failover_value(1, 150, 100), -100);
        assert_eq!(failover_value(2, 150, 100), -50);
        assert_eq!(failover_value(1, 101, 100), -10);
        assert_eq!(failover_value(0, 150, 100), 1);
        assert_eq!(failover_value(-5, 150, 100), 50);
    }
}
