//! keepalived's text dump (`keepalived.data`, signal DATA — SIGUSR1 on builds without
//! `--signum`): what a build without JSON support can tell about its instances.
//!
//! The dump is a tree of `key = value` lines indented by depth. Only the instances of the
//! `VRRP Topology` section are read; other sections reuse the same keys (an interface has
//! a `State = UP, RUNNING` too). Older builds spell some keys differently (`Want State`,
//! `Base priority`, `Preempt disabled`): each field accepts every spelling.

use super::{role_from_word, DumpInstance};
use crate::state::Role;
use crate::wire::ParseError;

/// The format's name in errors.
const WHAT: &str = "keepalived text dump";

/// Parses `keepalived.data`. A dump caught half-written (no final newline, an instance cut
/// before its state and priority) is an error, never a value.
pub fn parse_data(text: &str) -> Result<Vec<DumpInstance>, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty { what: WHAT });
    }
    if !text.ends_with('\n') {
        return Err(half_written("it ends mid-line"));
    }
    let mut instances = Vec::new();
    let mut in_topology = false;
    let mut current: Option<Partial> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(section) = section_name(trimmed) {
            in_topology = section == "VRRP Topology";
            instances.extend(current.take().map(Partial::finish).transpose()?);
            continue;
        }
        if !in_topology {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix("VRRP Instance = ") {
            instances.extend(current.take().map(Partial::finish).transpose()?);
            current = Some(Partial::new(name.trim()));
            continue;
        }
        if let Some(p) = current.as_mut() {
            p.line(line)?;
        }
    }
    instances.extend(current.take().map(Partial::finish).transpose()?);
    if !text.contains("VRRP Topology") {
        return Err(ParseError::expected(
            WHAT,
            "a \"------< VRRP Topology >------\" section",
            text,
        ));
    }
    Ok(instances)
}

/// `------< Name >------` → `Name`.
fn section_name(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("------<")?.strip_suffix(">------")?;
    Some(inner.trim())
}

fn half_written(detail: &str) -> ParseError {
    ParseError::HalfWritten {
        what: WHAT,
        detail: detail.to_string(),
    }
}

/// One instance while its lines are read.
struct Partial {
    name: String,
    vrid: Option<u8>,
    role: Option<Role>,
    wantstate: Option<Role>,
    base_priority: Option<u16>,
    effective_priority: Option<u16>,
    nopreempt: bool,
    last_transition: f64,
    vips: Vec<String>,
    /// Inside `Virtual IP (n):`: the indentation of that heading; its addresses are
    /// indented deeper.
    vip_list: Option<usize>,
}

impl Partial {
    fn new(name: &str) -> Self {
        Partial {
            name: name.to_string(),
            vrid: None,
            role: None,
            wantstate: None,
            base_priority: None,
            effective_priority: None,
            nopreempt: false,
            last_transition: 0.0,
            vips: Vec::new(),
            vip_list: None,
        }
    }

    fn line(&mut self, line: &str) -> Result<(), ParseError> {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(heading) = self.vip_list {
            if indent > heading && !trimmed.is_empty() {
                self.vips.push(trimmed.to_string());
                return Ok(());
            }
            self.vip_list = None;
        }
        // `Virtual IP (2):` (2.x) or `Virtual IP = 2` (1.x); not `Virtual IP excluded`.
        if trimmed.starts_with("Virtual IP (") || trimmed.starts_with("Virtual IP =") {
            self.vip_list = Some(indent);
            return Ok(());
        }
        match trimmed {
            "Preempt disabled" | "Nopreempt" | "nopreempt" => {
                self.nopreempt = true;
                return Ok(());
            }
            _ => {}
        }
        let Some((key, value)) = trimmed.split_once(" = ") else {
            return Ok(());
        };
        let value = value.trim();
        let number = |v: &str| {
            v.parse::<u16>()
                .map_err(|_| ParseError::expected(WHAT, &format!("a number for {key}"), v))
        };
        match key {
            "State" => self.role = Some(state(value)?),
            "Wantstate" | "Want State" => self.wantstate = Some(state(value)?),
            "Virtual Router ID" => {
                self.vrid = Some(value.parse().map_err(|_| {
                    ParseError::expected(WHAT, "a virtual router id (0-255)", value)
                })?)
            }
            "Priority" | "Base priority" => self.base_priority = Some(number(value)?),
            "Effective priority" => self.effective_priority = Some(number(value)?),
            "Preempt" => self.nopreempt = value == "disabled",
            "Last transition" => {
                let stamp = value.split_whitespace().next().unwrap_or_default();
                self.last_transition = stamp.parse().map_err(|_| {
                    ParseError::expected(WHAT, "a Unix time for Last transition", value)
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<DumpInstance, ParseError> {
        let (Some(role), Some(base)) = (self.role, self.base_priority) else {
            return Err(half_written(&format!(
                "instance {:?} has no State or Priority line",
                self.name
            )));
        };
        Ok(DumpInstance {
            name: self.name,
            vrid: self.vrid.unwrap_or_default(),
            role,
            wantstate: self.wantstate,
            base_priority: base,
            // Builds older than effective priorities have only the configured one.
            effective_priority: self.effective_priority.unwrap_or(base),
            nopreempt: self.nopreempt,
            last_transition: self.last_transition,
            vips: self.vips,
            become_master: None,
            release_master: None,
        })
    }
}

/// A state word; keepalived 2.x may add detail after it (`FAULT (interface down)`).
fn state(value: &str) -> Result<Role, ParseError> {
    let word = value.split_whitespace().next().unwrap_or_default();
    role_from_word(word)
        .ok_or_else(|| ParseError::expected(WHAT, "MASTER, BACKUP, FAULT, INIT, STOP", value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::keepalived::parse_dump;

    /// Each text fixture was captured with the JSON dump of the same moment.
    const CAPTURES: [(&str, &str, &str); 6] = [
        (
            "master",
            include_str!("../../../tests/fixtures/keepalived/data_master.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_master.json"),
        ),
        (
            "backup",
            include_str!("../../../tests/fixtures/keepalived/data_backup.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_backup.json"),
        ),
        (
            "track file lowered the master",
            include_str!("../../../tests/fixtures/keepalived/data_track_lowered.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_track_lowered.json"),
        ),
        (
            "the peer took over",
            include_str!("../../../tests/fixtures/keepalived/data_track_master.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_track_master.json"),
        ),
        (
            "fault",
            include_str!("../../../tests/fixtures/keepalived/data_fault.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_fault.json"),
        ),
        (
            "two instances, one nopreempt",
            include_str!("../../../tests/fixtures/keepalived/data_two_instances.txt"),
            include_str!("../../../tests/fixtures/keepalived/data_two_instances.json"),
        ),
    ];

    fn parsed(name: &str) -> Vec<DumpInstance> {
        let (_, text, _) = CAPTURES
            .iter()
            .find(|(n, _, _)| n.starts_with(name))
            .expect("a capture");
        parse_data(text).expect("parses")
    }

    #[test]
    fn every_capture_reads_as_its_json_twin_does() {
        for (name, text, json) in CAPTURES {
            let from_text = parse_data(text).expect(name);
            let from_json = parse_dump(json).expect(name);
            let key = |i: &DumpInstance| {
                (
                    i.name.clone(),
                    i.vrid,
                    i.role,
                    i.wantstate,
                    i.base_priority,
                    i.effective_priority,
                    i.nopreempt,
                    i.vips.clone(),
                    (i.last_transition * 1e6).round() as i64,
                )
            };
            assert_eq!(
                from_text.iter().map(key).collect::<Vec<_>>(),
                from_json.iter().map(key).collect::<Vec<_>>(),
                "{name}"
            );
        }
    }

    #[test]
    fn master_and_backup_with_their_priorities() {
        let m = parsed("master");
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].name.as_str(), m[0].vrid, m[0].role, m[0].wantstate),
            ("VI_1", 77, Role::Master, Some(Role::Master))
        );
        assert_eq!((m[0].base_priority, m[0].effective_priority), (150, 150));
        assert_eq!(m[0].vips, vec!["10.77.0.100/24 dev eth0 scope global set"]);
        assert!(m[0].last_transition > 1.7e9);
        assert!(!m[0].nopreempt);
        assert_eq!(m[0].become_master, None);
        let b = parsed("backup");
        assert_eq!(
            (b[0].role, b[0].base_priority, b[0].effective_priority),
            (Role::Backup, 100, 100)
        );
    }

    #[test]
    fn a_track_file_lowers_the_effective_priority_only() {
        let lowered = parsed("track file");
        assert_eq!(
            (
                lowered[0].role,
                lowered[0].base_priority,
                lowered[0].effective_priority
            ),
            (Role::Backup, 150, 50)
        );
        assert_eq!(parsed("the peer")[0].role, Role::Master);
    }

    #[test]
    fn fault_state_and_wantstate() {
        let f = parsed("fault");
        assert_eq!(
            (f[0].role, f[0].wantstate),
            (Role::Fault, Some(Role::Fault))
        );
    }

    #[test]
    fn two_instances_each_with_its_own_vips_and_preemption() {
        let both = parsed("two instances");
        let names: Vec<(&str, u8, Role, bool, usize)> = both
            .iter()
            .map(|i| (i.name.as_str(), i.vrid, i.role, i.nopreempt, i.vips.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("VI_1", 77, Role::Backup, true, 1),
                ("VI_2", 78, Role::Master, false, 2)
            ]
        );
        assert_eq!(both[1].base_priority, 120);
    }

    #[test]
    fn interface_states_elsewhere_in_the_dump_are_not_instance_states() {
        // The Interfaces section follows the instances, with `State = UP, RUNNING`.
        let text = include_str!("../../../tests/fixtures/keepalived/data_master.txt");
        assert!(text.contains("State = UP, RUNNING"));
        assert_eq!(parsed("master")[0].role, Role::Master);
    }

    #[test]
    fn a_half_written_dump_is_an_error_not_a_value() {
        let full = include_str!("../../../tests/fixtures/keepalived/data_two_instances.txt");
        let topology = full.find("VRRP Instance = VI_1").expect("an instance");
        for cut in [
            1,
            topology + 5,
            topology + 60,
            full.len() / 2,
            full.len() - 3,
        ] {
            let err = parse_data(&full[..cut]).expect_err("truncated");
            assert!(err.to_string().contains("half-written"), "{cut}: {err}");
        }
        // Cut at a line end inside an instance, before its State line.
        let state = full[topology..].find("   State").expect("state") + topology;
        let err = parse_data(&full[..state]).expect_err("cut before State");
        assert!(err.to_string().contains("half-written"), "{err}");
    }

    #[test]
    fn older_spellings_and_garbage() {
        let old =
            "------< VRRP Topology >------\n VRRP Instance = VI_1\n   Want State = BACKUP\n   \
                   Running on device = eth0\n   Virtual Router ID = 51\n   State = BACKUP\n   \
                   Base priority = 100\n   Preempt disabled\n   Virtual IP = 1\n     \
                   10.0.0.1/32 dev eth0 scope global\n   Virtual Routes = 0\n";
        let i = parse_data(old).expect("old layout");
        assert_eq!(
            (
                i[0].role,
                i[0].wantstate,
                i[0].base_priority,
                i[0].effective_priority
            ),
            (Role::Backup, Some(Role::Backup), 100, 100)
        );
        assert!(i[0].nopreempt);
        assert_eq!(i[0].vips, vec!["10.0.0.1/32 dev eth0 scope global"]);
        assert_eq!(
            parse_data(""),
            Err(ParseError::Empty {
                what: "keepalived text dump"
            })
        );
        for bad in [
            "Unknown sigfunc JSON\n",
            "------< VRRP Topology >------\n VRRP Instance = VI_1\n   State = SLEEPING\n",
            "------< VRRP Topology >------\n VRRP Instance = VI_1\n   State = MASTER\n   Priority = high\n",
        ] {
            assert!(parse_data(bad).is_err(), "{bad:?}");
        }
    }
}
