//! HAProxy: `show stat` CSV (runtime API or `/stats;csv`), `show info` and
//! `show servers state`. CSV columns are found by header name: the set grows between
//! versions.

use std::collections::HashMap;

use serde::Serialize;

use super::ParseError;
use crate::state::ServerState;

/// What a `show stat` row describes (the `type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowKind {
    /// A frontend (type 0).
    Frontend,
    /// A backend's aggregate row (type 1).
    Backend,
    /// A server of a backend (type 2).
    Server,
    /// A listener (type 3).
    Listener,
}

/// One `show stat` row, the fields lbdeck uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StatRow {
    /// Proxy (frontend/backend) name.
    pub pxname: String,
    /// Server name, or FRONTEND / BACKEND.
    pub svname: String,
    /// Row kind.
    pub kind: Option<RowKind>,
    /// Status text: UP, DOWN 1/2, DRAIN, MAINT, no check…
    pub status: String,
    /// Current sessions.
    pub scur: Option<u64>,
    /// Queued requests.
    pub qcur: Option<u64>,
    /// Sessions since start (counter).
    pub stot: Option<u64>,
    /// Sessions per second over the last second.
    pub rate: Option<u64>,
    /// Effective weight.
    pub weight: Option<u64>,
    /// Failed checks (counter).
    pub chkfail: Option<u64>,
    /// Seconds since the last status change.
    pub lastchg: Option<u64>,
    /// Last health check result (L7OK, L4CON…).
    pub check_status: String,
    /// Last health check duration, ms.
    pub check_duration: Option<u64>,
    /// HTTP responses by class since start: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub hrsp: [Option<u64>; 6],
    /// HTTP requests since start (frontends).
    pub req_tot: Option<u64>,
    /// Average response time over the last 1024 requests, ms.
    pub rtime: Option<u64>,
    /// Average total time over the last 1024 requests, ms.
    pub ttime: Option<u64>,
    /// Server address.
    pub addr: String,
    /// Most requests ever queued.
    pub qmax: Option<u64>,
    /// Most sessions ever at once.
    pub smax: Option<u64>,
    /// Bytes in, from clients (counter).
    pub bin: Option<u64>,
    /// Bytes out, to clients (counter).
    pub bout: Option<u64>,
    /// Requests denied by security rules (counter; empty on server rows of older
    /// versions).
    pub dreq: Option<u64>,
    /// Responses denied by security rules (counter).
    pub dresp: Option<u64>,
    /// Errors connecting to the server (counter).
    pub econ: Option<u64>,
    /// Response errors: the server closed or answered badly (counter).
    pub eresp: Option<u64>,
    /// Connection attempts retried (counter).
    pub wretr: Option<u64>,
    /// Requests sent to another server after a failure (counter).
    pub wredis: Option<u64>,
    /// Seconds the server was down, in total.
    pub downtime: Option<u64>,
}

impl StatRow {
    /// Total HTTP responses (all classes): the best request counter for a server.
    pub fn responses(&self) -> Option<u64> {
        let present: Vec<u64> = self.hrsp.iter().flatten().copied().collect();
        (!present.is_empty()).then(|| present.iter().sum())
    }
}

/// Reads the `status` column of a server row (UP 1/3, DOWN 1/2, MAINT (via be/s), no
/// check…) into the neutral state; None for words that are not a server's state (OPEN).
pub fn server_state(status: &str) -> Option<ServerState> {
    let word = status
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default();
    match word {
        "UP" | "no" => Some(ServerState::Up),
        "DRAIN" => Some(ServerState::Drain),
        "MAINT" => Some(ServerState::Maint),
        "NOLB" => Some(ServerState::Nolb),
        "DOWN" => Some(ServerState::Down),
        _ => None,
    }
}

impl StatRow {
    /// The server's state from its `status` column.
    pub fn state(&self) -> Option<ServerState> {
        server_state(&self.status)
    }
}

/// Each header name's position; where a name repeats (stats modules may add one such as
/// `-`), the first one counts.
fn columns<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut cols = HashMap::new();
    for (i, name) in names.enumerate() {
        cols.entry(name).or_insert(i);
    }
    cols
}

/// The fields of one CSV row: HAProxy quotes a field with `"` when it holds a comma or a
/// quote (a health check's or an agent's text), doubling the quotes inside.
fn csv_fields(line: &str) -> Vec<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    // Sized once: a `show stat` row has about a hundred fields.
    let mut out = Vec::with_capacity(line.bytes().filter(|&b| b == b',').count() + 1);
    let mut rest = line;
    loop {
        let Some(quoted) = rest.strip_prefix('"') else {
            match rest.split_once(',') {
                Some((field, tail)) => {
                    out.push(Cow::Borrowed(field));
                    rest = tail;
                    continue;
                }
                None => {
                    out.push(Cow::Borrowed(rest));
                    return out;
                }
            }
        };
        let mut field = String::new();
        let mut chars = quoted.char_indices();
        let mut after = quoted.len();
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                field.push(c);
            } else if quoted[i + 1..].starts_with('"') {
                field.push('"');
                chars.next();
            } else {
                after = i + 1;
                break;
            }
        }
        out.push(Cow::Owned(field));
        match quoted[after..].strip_prefix(',') {
            Some(tail) => rest = tail,
            None => return out,
        }
    }
}

/// Where each column a [`StatRow`] is read from sits in the header: looked up once a
/// reply, not once a row.
#[derive(Default)]
struct StatColumns {
    pxname: Option<usize>,
    svname: Option<usize>,
    kind: Option<usize>,
    status: Option<usize>,
    scur: Option<usize>,
    qcur: Option<usize>,
    stot: Option<usize>,
    rate: Option<usize>,
    weight: Option<usize>,
    chkfail: Option<usize>,
    lastchg: Option<usize>,
    check_status: Option<usize>,
    check_duration: Option<usize>,
    hrsp_1xx: Option<usize>,
    hrsp_2xx: Option<usize>,
    hrsp_3xx: Option<usize>,
    hrsp_4xx: Option<usize>,
    hrsp_5xx: Option<usize>,
    hrsp_other: Option<usize>,
    req_tot: Option<usize>,
    rtime: Option<usize>,
    ttime: Option<usize>,
    addr: Option<usize>,
    qmax: Option<usize>,
    smax: Option<usize>,
    bin: Option<usize>,
    bout: Option<usize>,
    dreq: Option<usize>,
    dresp: Option<usize>,
    econ: Option<usize>,
    eresp: Option<usize>,
    wretr: Option<usize>,
    wredis: Option<usize>,
    downtime: Option<usize>,
}

impl StatColumns {
    /// Where each column is, from the header's names, in one pass (the first of a name
    /// counts). No map: the header is read every poll.
    fn find<'a>(names: impl Iterator<Item = &'a str>) -> StatColumns {
        let mut c = StatColumns::default();
        for (i, name) in names.enumerate() {
            let slot = match name {
                "pxname" => &mut c.pxname,
                "svname" => &mut c.svname,
                "type" => &mut c.kind,
                "status" => &mut c.status,
                "scur" => &mut c.scur,
                "qcur" => &mut c.qcur,
                "stot" => &mut c.stot,
                "rate" => &mut c.rate,
                "weight" => &mut c.weight,
                "chkfail" => &mut c.chkfail,
                "lastchg" => &mut c.lastchg,
                "check_status" => &mut c.check_status,
                "check_duration" => &mut c.check_duration,
                "hrsp_1xx" => &mut c.hrsp_1xx,
                "hrsp_2xx" => &mut c.hrsp_2xx,
                "hrsp_3xx" => &mut c.hrsp_3xx,
                "hrsp_4xx" => &mut c.hrsp_4xx,
                "hrsp_5xx" => &mut c.hrsp_5xx,
                "hrsp_other" => &mut c.hrsp_other,
                "req_tot" => &mut c.req_tot,
                "rtime" => &mut c.rtime,
                "ttime" => &mut c.ttime,
                "addr" => &mut c.addr,
                "qmax" => &mut c.qmax,
                "smax" => &mut c.smax,
                "bin" => &mut c.bin,
                "bout" => &mut c.bout,
                "dreq" => &mut c.dreq,
                "dresp" => &mut c.dresp,
                "econ" => &mut c.econ,
                "eresp" => &mut c.eresp,
                "wretr" => &mut c.wretr,
                "wredis" => &mut c.wredis,
                "downtime" => &mut c.downtime,
                _ => continue,
            };
            slot.get_or_insert(i);
        }
        c
    }
}

/// Parses `show stat` / `/stats;csv` output.
pub fn parse_stat(text: &str) -> Result<Vec<StatRow>, ParseError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or(ParseError::Empty { what: "show stat" })?;
    let header = header.strip_prefix("# ").ok_or_else(|| {
        ParseError::expected(
            "show stat",
            "a CSV header starting with \"# pxname,svname\"",
            header,
        )
    })?;
    let c = StatColumns::find(header.split(','));
    for (required, at) in [
        ("pxname", c.pxname),
        ("svname", c.svname),
        ("status", c.status),
    ] {
        if at.is_none() {
            return Err(ParseError::MissingColumn {
                what: "show stat",
                header: "CSV header",
                column: required.to_string(),
            });
        }
    }
    let mut rows = Vec::new();
    for line in lines {
        let f = csv_fields(line);
        let get = |at: Option<usize>| at.and_then(|i| f.get(i)).map_or("", |v| v.as_ref());
        let num = |at: Option<usize>| get(at).parse::<u64>().ok();
        let kind = match get(c.kind) {
            "0" => Some(RowKind::Frontend),
            "1" => Some(RowKind::Backend),
            "2" => Some(RowKind::Server),
            "3" => Some(RowKind::Listener),
            _ => match get(c.svname) {
                "FRONTEND" => Some(RowKind::Frontend),
                "BACKEND" => Some(RowKind::Backend),
                _ => None,
            },
        };
        if get(c.pxname).is_empty() {
            return Err(ParseError::expected(
                "show stat",
                "a row with a proxy name",
                line,
            ));
        }
        rows.push(StatRow {
            pxname: get(c.pxname).to_string(),
            svname: get(c.svname).to_string(),
            kind,
            status: get(c.status).to_string(),
            scur: num(c.scur),
            qcur: num(c.qcur),
            stot: num(c.stot),
            rate: num(c.rate),
            weight: num(c.weight),
            chkfail: num(c.chkfail),
            lastchg: num(c.lastchg),
            // "* L7OK": HAProxy marks the last result while the next check runs.
            check_status: get(c.check_status).trim_start_matches("* ").to_string(),
            check_duration: num(c.check_duration),
            hrsp: [
                num(c.hrsp_1xx),
                num(c.hrsp_2xx),
                num(c.hrsp_3xx),
                num(c.hrsp_4xx),
                num(c.hrsp_5xx),
                num(c.hrsp_other),
            ],
            req_tot: num(c.req_tot),
            rtime: num(c.rtime),
            ttime: num(c.ttime),
            addr: get(c.addr).to_string(),
            qmax: num(c.qmax),
            smax: num(c.smax),
            bin: num(c.bin),
            bout: num(c.bout),
            dreq: num(c.dreq),
            dresp: num(c.dresp),
            econ: num(c.econ),
            eresp: num(c.eresp),
            wretr: num(c.wretr),
            wredis: num(c.wredis),
            downtime: num(c.downtime),
        });
    }
    Ok(rows)
}

/// `show info`: process-wide facts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Info {
    /// HAProxy version.
    pub version: String,
    /// Seconds since the process started: a drop means a restart.
    pub uptime_sec: Option<u64>,
    /// Current connections.
    pub curr_conns: Option<u64>,
    /// Connections since start (counter).
    pub cum_req: Option<u64>,
    /// Process id.
    pub pid: Option<u64>,
    /// The process is soft-stopping (`Stopping: 1`): a reload replaced it, and it only
    /// finishes what it had — its state is no longer the balancer's.
    pub stopping: bool,
}

/// Parses `show info` (`Key: value` lines).
pub fn parse_info(text: &str) -> Result<Info, ParseError> {
    // One pass over the lines, keeping the few keys read (the last of a repeated key).
    let mut named = false;
    let mut version = None;
    let (mut uptime_sec, mut curr_conns, mut cum_req, mut pid) = (None, None, None, None);
    let mut stopping = None;
    for (k, v) in text.lines().filter_map(|l| l.split_once(':')) {
        let v = v.trim();
        match k.trim() {
            "Name" => named = true,
            "Version" => version = Some(v),
            "Uptime_sec" => uptime_sec = Some(v),
            "CurrConns" => curr_conns = Some(v),
            "CumReq" => cum_req = Some(v),
            "Pid" => pid = Some(v),
            "Stopping" => stopping = Some(v),
            _ => {}
        }
    }
    if !named && version.is_none() {
        let first = text.lines().next().unwrap_or_default();
        return Err(ParseError::expected(
            "show info",
            "\"Name: HAProxy\" and Key: value lines",
            first,
        ));
    }
    let num = |v: Option<&str>| v.and_then(|v| v.parse().ok());
    Ok(Info {
        version: version.unwrap_or_default().to_string(),
        uptime_sec: num(uptime_sec),
        curr_conns: num(curr_conns),
        cum_req: num(cum_req),
        pid: num(pid),
        stopping: num(stopping) == Some(1),
    })
}

/// An HAProxy release as `show info` names it (`2.6.12-1+deb12u4`, `1.8.27-5.el8`,
/// `3.1-dev4`): what decides which runtime-API commands it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// 1, 2, 3…
    pub major: u32,
    /// The branch within the major.
    pub minor: u32,
}

impl Version {
    /// The branch of a `Version:` value; None when it does not start with `N.N`.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version { major, minor })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A runtime-API command lbdeck sends that older HAProxy versions lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `show servers state`: the state operators set (polls, a change's read-back).
    ShowServersState,
    /// `set server BACKEND/SERVER state ready|drain|maint`.
    SetServerState,
}

impl Command {
    /// The command as an operator would type it.
    pub fn words(self) -> &'static str {
        match self {
            Command::ShowServersState => "show servers state",
            Command::SetServerState => "set server … state",
        }
    }

    /// The first version whose management guide documents it: `set server … state` came
    /// with 1.5, `show servers state` with 1.6.
    pub fn since(self) -> Version {
        match self {
            Command::ShowServersState => Version { major: 1, minor: 6 },
            Command::SetServerState => Version { major: 1, minor: 5 },
        }
    }
}

/// Why the HAProxy that reports `version` cannot run `commands`: the first it lacks,
/// with its version in the sentence. None when it has them all, or when the version
/// cannot be read (the command itself then says what is wrong).
pub fn lacks(version: &str, commands: &[Command]) -> Option<String> {
    let v = Version::parse(version)?;
    commands.iter().find(|c| v < c.since()).map(|c| {
        format!(
            "HAProxy {} has no `{}` (it came with {})",
            version.trim(),
            c.words(),
            c.since()
        )
    })
}

/// One `show servers state` row: the admin/operational state of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStateRow {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u8,
    /// srv_admin_state bitmask.
    pub admin_state: u32,
    /// User weight.
    pub weight: u32,
    /// Initial weight, from the configuration (srv_iweight).
    pub iweight: Option<u32>,
    /// srv_check_state (CHK_ST_* bits), when the version prints it.
    pub check_state: Option<u32>,
    /// srv_agent_state (CHK_ST_* bits), when the version prints it.
    pub agent_state: Option<u32>,
}

/// srv_check_state / srv_agent_state bits (HAProxy's CHK_ST_*).
pub mod check {
    /// The check is configured on the server.
    pub const CONFIGURED: u32 = 0x02;
    /// The check is enabled (`disable health|agent` clears it).
    pub const ENABLED: u32 = 0x04;
}

/// srv_admin_state bits (HAProxy's SRV_ADMF_*).
pub mod admin {
    /// Forced maintenance (`set server … state maint`).
    pub const FMAINT: u32 = 0x01;
    /// Maintenance inherited from a tracked server.
    pub const IMAINT: u32 = 0x02;
    /// Maintenance from the configuration (`disabled`).
    pub const CMAINT: u32 = 0x04;
    /// Forced drain (`set server … state drain`).
    pub const FDRAIN: u32 = 0x08;
    /// Drain inherited from a tracked server.
    pub const IDRAIN: u32 = 0x10;
    /// Maintenance because the name could not be resolved.
    pub const RMAINT: u32 = 0x20;
    /// Maintenance because of a failed DNS resolution at start.
    pub const HMAINT: u32 = 0x40;
    /// Every maintenance bit.
    pub const ANY_MAINT: u32 = FMAINT | IMAINT | CMAINT | RMAINT | HMAINT;
    /// Every drain bit.
    pub const ANY_DRAIN: u32 = FDRAIN | IDRAIN;
}

impl ServerStateRow {
    /// The administrative state operators set: MAINT, DRAIN, or UP when neither.
    pub fn admin(&self) -> ServerState {
        if self.admin_state & admin::ANY_MAINT != 0 {
            ServerState::Maint
        } else if self.admin_state & admin::ANY_DRAIN != 0 {
            ServerState::Drain
        } else {
            ServerState::Up
        }
    }

    /// Whether the health (or the agent) check runs: "on", "off", or "not configured";
    /// None when the version does not say.
    pub fn checks(&self, agent: bool) -> Option<&'static str> {
        let bits = if agent {
            self.agent_state
        } else {
            self.check_state
        }?;
        Some(if bits & check::CONFIGURED == 0 {
            "not configured"
        } else if bits & check::ENABLED != 0 {
            "on"
        } else {
            "off"
        })
    }
}

/// Parses `get weight BACKEND/SERVER`: "7 (initial 1)" → (7, 1).
pub fn parse_weight(text: &str) -> Option<(u32, u32)> {
    let (current, rest) = text.trim().split_once(" (initial ")?;
    Some((current.parse().ok()?, rest.strip_suffix(')')?.parse().ok()?))
}

/// Parses `show servers state [backend]`.
pub fn parse_servers_state(text: &str) -> Result<Vec<ServerStateRow>, ParseError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let version = lines.next().unwrap_or_default().trim();
    if version != "1" {
        return Err(ParseError::expected(
            "show servers state",
            "format version \"1\"",
            version,
        ));
    }
    let header = lines.next().unwrap_or_default();
    let header = header.strip_prefix("# ").ok_or_else(|| {
        ParseError::expected("show servers state", "a \"# be_id …\" header", header)
    })?;
    let cols = columns(header.split_whitespace());
    let col = |name: &str| {
        cols.get(name)
            .copied()
            .ok_or_else(|| ParseError::MissingColumn {
                what: "show servers state",
                header: "header",
                column: name.to_string(),
            })
    };
    let (be, sv, op, ad, w) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
    );
    let (cs, ags) = (cols.get("srv_check_state"), cols.get("srv_agent_state"));
    let iw = cols.get("srv_iweight").copied();
    let mut rows = Vec::new();
    // The format lets any later line be a comment.
    for line in lines.filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let bad = || ParseError::expected("show servers state", "a row of numbers and names", line);
        rows.push(ServerStateRow {
            backend: get(be).to_string(),
            server: get(sv).to_string(),
            op_state: get(op).parse().map_err(|_| bad())?,
            admin_state: get(ad).parse().map_err(|_| bad())?,
            weight: get(w).parse().map_err(|_| bad())?,
            iweight: iw.and_then(|i| get(i).parse().ok()),
            check_state: cs.and_then(|&i| get(i).parse().ok()),
            agent_state: ags.and_then(|&i| get(i).parse().ok()),
        });
    }
    Ok(rows)
}

/// The runtime-API commands of one poll, sent on one connection. `show stat` goes last:
/// HAProxy ends every command's answer with an empty line, and the CSV ends with one of
/// its own, so the first two answers end at the first empty lines and the rest is CSV.
pub fn poll_commands(backend: &str) -> String {
    format!("show info; show servers state {backend}; show stat")
}

/// The three answers of [`poll_commands`], split: (`show info`, `show servers state`,
/// `show stat`).
pub fn split_poll_reply(text: &str) -> (&str, &str, &str) {
    let mut rest = text;
    let mut next = || match rest.find("\n\n") {
        Some(i) => {
            let answer = &rest[..=i];
            rest = &rest[i + 2..];
            answer
        }
        None => std::mem::take(&mut rest),
    };
    let info = next();
    let state = next();
    (info, state, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = include_str!("../../tests/fixtures/haproxy/show_stat.csv");
    const MIXED: &str = include_str!("../../tests/fixtures/haproxy/show_stat_mixed.csv");

    #[test]
    fn parses_show_stat_from_haproxy_2_6() {
        let rows = parse_stat(STAT).expect("parses");
        let web1 = rows.iter().find(|r| r.svname == "web1").expect("web1 row");
        assert_eq!(web1.pxname, "be_web");
        assert_eq!(web1.kind, Some(RowKind::Server));
        assert_eq!(web1.state(), Some(ServerState::Up));
        assert_eq!(web1.check_status, "L7OK");
        assert_eq!(web1.addr, "10.77.0.21:80");
        assert_eq!(web1.stot, Some(10));
        assert_eq!(web1.responses(), Some(10));
        let fe = rows
            .iter()
            .find(|r| r.pxname == "fe_web")
            .expect("frontend");
        assert_eq!(fe.kind, Some(RowKind::Frontend));
        assert_eq!(fe.req_tot, Some(30));
    }

    #[test]
    fn a_server_rows_counters_are_read_by_name() {
        let rows = parse_stat(MIXED).expect("parses");
        let web1 = rows.iter().find(|r| r.svname == "web1").expect("web1 row");
        assert_eq!(
            (web1.qcur, web1.qmax, web1.scur, web1.smax),
            (Some(0), Some(0), Some(0), Some(1))
        );
        assert_eq!((web1.bin, web1.bout), (Some(830), Some(1270)));
        assert_eq!(web1.dreq, None, "HAProxy 2.6 leaves dreq empty on a server");
        assert_eq!(web1.dresp, Some(0));
        assert_eq!(
            (web1.econ, web1.eresp, web1.wretr, web1.wredis),
            (Some(0), Some(0), Some(0), Some(0))
        );
        assert_eq!((web1.lastchg, web1.downtime), (Some(3), Some(5)));
        let rows = parse_stat(STAT_3_X).expect("3.x");
        let web5 = rows.iter().find(|r| r.svname == "web5").expect("web5 row");
        assert_eq!(
            (web5.downtime, web5.bin, web5.smax),
            (Some(30), Some(80000), Some(4))
        );
    }

    #[test]
    fn reads_drain_maint_and_down() {
        let rows = parse_stat(MIXED).expect("parses");
        let state = |n: &str| rows.iter().find(|r| r.svname == n).and_then(StatRow::state);
        assert_eq!(state("web1"), Some(ServerState::Maint));
        assert_eq!(state("web2"), Some(ServerState::Drain));
        assert_eq!(state("web3"), Some(ServerState::Down));
        let web3 = rows.iter().find(|r| r.svname == "web3").expect("web3");
        assert_eq!(web3.check_status, "L4CON");
        let running =
            parse_stat("# pxname,svname,status,check_status,type,\nbe_web,web1,UP,* L7OK,2,\n")
                .expect("csv");
        assert_eq!(
            running[0].check_status, "L7OK",
            "the last result, check running"
        );
    }

    #[test]
    fn the_stats_page_csv_is_the_same_format() {
        let rows = parse_stat(include_str!("../../tests/fixtures/haproxy/stats_page.csv"))
            .expect("parses");
        assert!(rows
            .iter()
            .any(|r| r.svname == "web3" && r.kind == Some(RowKind::Server)));
    }

    #[test]
    fn status_strings_of_every_form() {
        for (s, want) in [
            ("UP 1/3", Some(ServerState::Up)),
            ("DOWN 1/2", Some(ServerState::Down)),
            ("MAINT (via be/s)", Some(ServerState::Maint)),
            ("no check", Some(ServerState::Up)),
            ("NOLB", Some(ServerState::Nolb)),
            ("OPEN", None),
        ] {
            assert_eq!(server_state(s), want, "{s}");
        }
    }

    /// `show stat` with the columns HAProxy 1.8 and 3.4 document (doc/management.txt,
    /// section 9.1): 83 and 114 columns, servers in every state those versions print.
    const STAT_1_8: &str = include_str!("../../tests/fixtures/haproxy/show_stat_1.8.csv");
    const STAT_3_X: &str = include_str!("../../tests/fixtures/haproxy/show_stat_3.x.csv");

    #[test]
    fn the_oldest_and_newest_column_sets_read_alike() {
        for (version, text, states) in [
            (
                "1.8",
                STAT_1_8,
                [
                    ("web1", "UP", ServerState::Up),
                    ("web2", "DRAIN", ServerState::Drain),
                    ("web3", "MAINT (via be_other/app1)", ServerState::Maint),
                    ("web4", "NOLB", ServerState::Nolb),
                    ("web5", "DOWN 1/2", ServerState::Down),
                    ("spare", "no check", ServerState::Up),
                ],
            ),
            (
                "3.x",
                STAT_3_X,
                [
                    ("web1", "UP 2/3", ServerState::Up),
                    ("web2", "DRAIN (agent)", ServerState::Drain),
                    ("web3", "MAINT (resolution)", ServerState::Maint),
                    ("web4", "NOLB", ServerState::Nolb),
                    ("web5", "DOWN (agent)", ServerState::Down),
                    ("spare", "no check", ServerState::Up),
                ],
            ),
        ] {
            let rows = parse_stat(text).expect(version);
            let servers: Vec<&StatRow> = rows
                .iter()
                .filter(|r| r.kind == Some(RowKind::Server))
                .collect();
            assert_eq!(servers.len(), 6, "{version}");
            for ((name, status, state), row) in states.iter().zip(&servers) {
                assert_eq!(
                    (row.svname.as_str(), row.status.as_str(), row.state()),
                    (*name, *status, Some(*state)),
                    "{version}"
                );
            }
            // web2's agent text holds a comma and is quoted: the columns after it
            // (addr) are still read from their own place.
            assert_eq!(servers[1].addr, "10.0.0.22:80", "{version}");
            assert_eq!(servers[1].scur, Some(1), "{version}");
            assert_eq!(servers[3].check_status, "L7OKC", "{version}: check running");
            let fe = rows.iter().find(|r| r.kind == Some(RowKind::Frontend));
            assert_eq!(fe.and_then(|r| r.req_tot), Some(5096), "{version}");
            let be = rows.iter().find(|r| r.kind == Some(RowKind::Backend));
            assert_eq!(be.map(|r| (r.scur, r.rtime)), Some((Some(2), Some(3))));
        }
    }

    /// `text` with every line's columns in reverse order (quoting kept).
    fn reversed(text: &str) -> String {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (mark, body) = l.strip_prefix("# ").map_or(("", l), |b| ("# ", b));
                let mut f: Vec<String> = csv_fields(body.strip_suffix(',').unwrap_or(body))
                    .iter()
                    .map(|v| {
                        if v.contains(',') || v.contains('"') {
                            format!("\"{}\"", v.replace('"', "\"\""))
                        } else {
                            v.to_string()
                        }
                    })
                    .collect();
                f.reverse();
                format!("{mark}{},\n", f.join(","))
            })
            .collect()
    }

    #[test]
    fn columns_are_found_by_name_wherever_they_are() {
        for text in [STAT_1_8, STAT_3_X, STAT] {
            let shuffled = reversed(text);
            assert!(!shuffled.starts_with("# pxname"), "{shuffled}");
            assert_eq!(parse_stat(&shuffled), parse_stat(text));
        }
    }

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        assert_eq!(
            csv_fields("a,\"b, c\",\"say \"\"hi\"\"\",,d,"),
            ["a", "b, c", "say \"hi\"", "", "d", ""]
        );
        let rows =
            parse_stat("# pxname,svname,status,last_chk,addr,\nbe,s1,UP,\"x, y\",10.0.0.1:80,\n")
                .expect("csv");
        assert_eq!(rows[0].addr, "10.0.0.1:80");
    }

    #[test]
    fn show_servers_state_of_1_8_and_3_x() {
        for (version, text, admin) in [
            (
                "1.8",
                include_str!("../../tests/fixtures/haproxy/show_servers_state_1.8.txt"),
                [
                    ServerState::Up,
                    ServerState::Drain,
                    ServerState::Maint,
                    ServerState::Up,
                    ServerState::Up,
                    ServerState::Up,
                ],
            ),
            (
                "3.x",
                include_str!("../../tests/fixtures/haproxy/show_servers_state_3.x.txt"),
                [
                    ServerState::Up,
                    // Drained by its agent (weight 0), not by an operator.
                    ServerState::Up,
                    ServerState::Maint,
                    ServerState::Up,
                    ServerState::Up,
                    ServerState::Up,
                ],
            ),
        ] {
            let rows = parse_servers_state(text).expect(version);
            let got: Vec<ServerState> = rows.iter().map(ServerStateRow::admin).collect();
            assert_eq!(got, admin, "{version}");
            assert_eq!(rows[3].op_state, 3, "{version}: web4 stopping (NOLB)");
            assert_eq!(rows[5].server, "spare", "{version}");
        }
        let agent = parse_servers_state(include_str!(
            "../../tests/fixtures/haproxy/show_servers_state_3.x.txt"
        ))
        .expect("3.x");
        assert_eq!(agent[1].weight, 0);
        assert_eq!(agent[1].iweight, Some(1), "the configured weight stays");
        let no_initial = parse_servers_state(
            "1\n# be_id be_name srv_id srv_name srv_op_state srv_admin_state srv_uweight\n3 be 1 s1 2 0 4\n",
        )
        .expect("without srv_iweight");
        assert_eq!((no_initial[0].weight, no_initial[0].iweight), (4, None));
    }

    #[test]
    fn rejects_non_csv() {
        assert!(parse_stat("Unknown command.\n").is_err());
        assert!(parse_stat("").is_err());
        assert!(parse_stat("# a,b\n").is_err(), "no pxname column");
    }

    #[test]
    fn versions_without_a_command_are_named_in_the_sentence() {
        let server_change = [Command::SetServerState, Command::ShowServersState];
        assert_eq!(
            lacks("1.5.18", &server_change).as_deref(),
            Some("HAProxy 1.5.18 has no `show servers state` (it came with 1.6)")
        );
        assert_eq!(
            lacks("1.4.24", &server_change).as_deref(),
            Some("HAProxy 1.4.24 has no `set server … state` (it came with 1.5)")
        );
        for has in [
            "1.6.0",
            "1.8.27-5.el8",
            "2.6.12-1+deb12u4",
            "3.1-dev4",
            "10.0",
        ] {
            assert_eq!(lacks(has, &server_change), None, "{has}");
        }
        assert_eq!(lacks("", &server_change), None, "unknown: not refused here");
        assert_eq!(
            Version::parse("1.8.27-5.el8"),
            Some(Version { major: 1, minor: 8 })
        );
        assert!(Version::parse("2.10.0") > Version::parse("2.9.9"));
        assert_eq!(Version::parse("HAProxy"), None);
    }

    #[test]
    fn parses_show_info() {
        let info =
            parse_info(include_str!("../../tests/fixtures/haproxy/show_info.txt")).expect("parses");
        assert!(info.version.starts_with("2.6"));
        assert_eq!(info.uptime_sec, Some(9));
        assert_eq!(info.curr_conns, Some(0));
        assert!(parse_info("No such command\n").is_err());
    }

    #[test]
    fn a_batched_reply_splits_into_its_three_answers() {
        let (info, state, stat) =
            split_poll_reply(include_str!("../../tests/fixtures/haproxy/poll_batch.txt"));
        assert!(parse_info(info)
            .expect("show info")
            .version
            .starts_with("2.6"));
        let admin = parse_servers_state(state).expect("show servers state");
        assert_eq!(admin.len(), 3);
        let rows = parse_stat(stat).expect("show stat");
        assert!(rows.iter().any(|r| r.kind == Some(RowKind::Frontend)));
        assert_eq!(
            rows.iter()
                .filter(|r| r.kind == Some(RowKind::Server))
                .count(),
            3
        );
    }

    #[test]
    fn a_refused_command_in_a_batch_leaves_the_others_readable() {
        let reply = format!(
            "{}Permission denied.\n\n{}",
            include_str!("../../tests/fixtures/haproxy/show_info.txt"),
            include_str!("../../tests/fixtures/haproxy/show_stat.csv"),
        );
        let (info, state, stat) = split_poll_reply(&reply);
        assert!(parse_info(info).is_ok());
        assert!(parse_servers_state(state).is_err());
        assert!(parse_stat(stat).is_ok());
    }

    #[test]
    fn parses_show_servers_state_admin_bits() {
        let rows = parse_servers_state(include_str!(
            "../../tests/fixtures/haproxy/show_servers_state_mixed.txt"
        ))
        .expect("parses");
        let admin = |n: &str| {
            rows.iter()
                .find(|r| r.server == n)
                .map(ServerStateRow::admin)
        };
        assert_eq!(admin("web1"), Some(ServerState::Maint));
        assert_eq!(admin("web2"), Some(ServerState::Drain));
        assert_eq!(admin("web3"), Some(ServerState::Up));
        let all = parse_servers_state(include_str!(
            "../../tests/fixtures/haproxy/show_servers_state.txt"
        ))
        .expect("parses");
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|r| r.op_state == 2 && r.backend == "be_web"));
    }

    #[test]
    fn check_states_and_weights_read_as_haproxy_2_6_prints_them() {
        // web1: health check on, agent check disabled at run time; web2: neither configured.
        let text = include_str!("../../tests/fixtures/haproxy/show_servers_state_checks.txt");
        let rows = parse_servers_state(text).expect("rows");
        assert_eq!(rows[0].checks(false), Some("on"));
        assert_eq!(rows[0].checks(true), Some("off"));
        assert_eq!(rows[1].checks(false), Some("not configured"));
        assert_eq!(parse_weight("7 (initial 1)\n\n"), Some((7, 1)));
        assert_eq!(parse_weight("No such server.\n"), None);
    }

    #[test]
    fn a_process_a_reload_replaced_says_it_is_stopping() {
        // What the old process answered on a connection kept open across `-sf` (2.6).
        let old =
            "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 14977\nUptime_sec: 2\nStopping: 1\n";
        assert!(parse_info(old).expect("info").stopping);
        let live = include_str!("../../tests/fixtures/haproxy/show_info.txt");
        assert!(!parse_info(live).expect("info").stopping);
    }
}
