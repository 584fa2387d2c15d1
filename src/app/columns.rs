//! The console's tables as data: every column of the backend table and of the balancer
//! pane is one variant here, with its header, its width and when it is shown; a backend
//! column also says how it sorts, and [`SortKey`] and the `o` cycle follow from that one
//! list. Nothing is drawn here: the panes in `ui` draw a cell per variant, and the app
//! sorts by the same columns without depending on the drawing.

use std::cmp::Ordering;

use crate::model::{Backend, Health};

/// How wide a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Exactly this many cells.
    Fixed(u16),
    /// At least this many cells, and whatever the other columns leave.
    Fill(u16),
    /// As wide as its widest value, within these bounds.
    Fit(u16, u16),
}

/// A column of the backend table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendColumn {
    /// The backend's name (muted when discovered rather than configured).
    Name,
    /// `host:port`.
    Address,
    /// Our own health probe.
    Health,
    /// One column per balancer: the state it reports for the backend.
    State,
    /// The balancer's last health check.
    Check,
    /// Sessions, summed over the balancers.
    Sessions,
    /// Requests per second, summed over the balancers.
    Rate,
    /// 2xx responses in total (since start, or over an access log's window).
    Ok,
    /// 4xx responses in total.
    ClientErrors,
    /// 5xx responses in total.
    Errors,
    /// How long our own health probe took.
    ProbeLatency,
    /// The balancers' average response time for it.
    BalancerLatency,
    /// Access-log median.
    P50,
    /// Access-log 95th percentile.
    P95,
    /// Access-log 99th percentile.
    P99,
}

/// The backend table's columns, left to right.
pub const BACKEND_COLUMNS: [BackendColumn; 15] = [
    BackendColumn::Name,
    BackendColumn::Address,
    BackendColumn::Health,
    BackendColumn::State,
    BackendColumn::Check,
    BackendColumn::Sessions,
    BackendColumn::Rate,
    BackendColumn::Ok,
    BackendColumn::ClientErrors,
    BackendColumn::Errors,
    BackendColumn::ProbeLatency,
    BackendColumn::BalancerLatency,
    BackendColumn::P50,
    BackendColumn::P95,
    BackendColumn::P99,
];

/// How a column sorts.
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    /// Shown in the table title: "sort sessions↓".
    pub label: &'static str,
    /// Biggest or worst first until reversed: what an operator looks for in that column.
    pub descending: bool,
    /// The ascending order.
    pub compare: fn(&Backend, &Backend) -> Ordering,
}

impl BackendColumn {
    /// The header; None for [`BackendColumn::State`], whose columns are headed by each
    /// balancer's name.
    pub const fn header(self) -> Option<&'static str> {
        use BackendColumn as C;
        Some(match self {
            C::Name => "backend",
            C::Address => "address",
            C::Health => "health",
            C::State => return None,
            C::Check => "check",
            C::Sessions => "sess",
            C::Rate => "req/s",
            C::Ok => "Σ2xx",
            C::ClientErrors => "Σ4xx",
            C::Errors => "Σ5xx",
            C::ProbeLatency => "probe ms",
            C::BalancerLatency => "lb ms",
            C::P50 => "p50",
            C::P95 => "p95",
            C::P99 => "p99",
        })
    }

    /// How wide it is (for [`BackendColumn::State`], each balancer's column).
    pub const fn width(self) -> Width {
        use BackendColumn as C;
        match self {
            C::Name => Width::Fit(7, 32),
            C::State => Width::Fit(6, u16::MAX),
            C::Address => Width::Fixed(21),
            C::Health => Width::Fixed(9),
            C::Check | C::Ok => Width::Fixed(7),
            C::Sessions | C::Errors => Width::Fixed(5),
            C::Rate | C::ClientErrors => Width::Fixed(6),
            C::ProbeLatency | C::BalancerLatency | C::P50 | C::P95 | C::P99 => Width::Fixed(8),
        }
    }

    /// The narrowest table that shows it: the less important columns give way first.
    pub const fn min_width(self) -> u16 {
        use BackendColumn as C;
        match self {
            C::Check => 72,
            C::Address | C::BalancerLatency => 100,
            C::Ok | C::ClientErrors => 120,
            C::P50 | C::P95 | C::P99 => 140,
            _ => 0,
        }
    }

    /// Shown only when some balancer reports percentiles (nginx, from its access log).
    pub const fn needs_percentiles(self) -> bool {
        matches!(
            self,
            BackendColumn::P50 | BackendColumn::P95 | BackendColumn::P99
        )
    }

    /// Whether a table `width` cells wide shows it; `percentiles` says whether any
    /// backend has access-log percentiles.
    pub const fn shown(self, width: u16, percentiles: bool) -> bool {
        width >= self.min_width() && (percentiles || !self.needs_percentiles())
    }

    /// How it sorts, when it does.
    pub const fn sort(self) -> Option<Sort> {
        use BackendColumn as C;
        let (label, descending, compare): (_, _, fn(&Backend, &Backend) -> Ordering) = match self {
            C::Name => ("name", false, by_name),
            C::Health => ("health", true, by_health),
            C::State => ("state", true, by_state),
            C::Sessions => ("sessions", true, by_sessions),
            C::Rate => ("req/s", true, by_rate),
            C::Errors => ("5xx", true, by_errors),
            C::ProbeLatency => ("probe ms", true, by_probe_latency),
            _ => return None,
        };
        Some(Sort {
            label,
            descending,
            compare,
        })
    }
}

/// What the backend table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Profile order (then discovery order).
    Config,
    /// A column that sorts (its [`BackendColumn::sort`] is set).
    Column(BackendColumn),
}

/// How many backend columns sort.
const SORTABLE: usize = {
    let (mut n, mut i) = (0, 0);
    while i < BACKEND_COLUMNS.len() {
        if BACKEND_COLUMNS[i].sort().is_some() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// What `o` cycles through: profile order, then every sorting column left to right.
pub const SORT_KEYS: [SortKey; SORTABLE + 1] = {
    let mut keys = [SortKey::Config; SORTABLE + 1];
    let (mut n, mut i) = (1, 0);
    while i < BACKEND_COLUMNS.len() {
        if BACKEND_COLUMNS[i].sort().is_some() {
            keys[n] = SortKey::Column(BACKEND_COLUMNS[i]);
            n += 1;
        }
        i += 1;
    }
    keys
};

impl SortKey {
    fn sort(self) -> Option<Sort> {
        match self {
            SortKey::Config => None,
            SortKey::Column(c) => c.sort(),
        }
    }

    /// Label shown in the table title.
    pub fn label(self) -> &'static str {
        self.sort().map_or("config", |s| s.label)
    }

    /// Whether the table starts descending when this key is picked.
    pub fn descending_by_default(self) -> bool {
        self.sort().is_some_and(|s| s.descending)
    }

    /// The ascending order of two backends (equal in profile order: the caller keeps
    /// the table's own order then).
    pub fn compare(self, x: &Backend, y: &Backend) -> Ordering {
        self.sort().map_or(Ordering::Equal, |s| (s.compare)(x, y))
    }
}

fn by_name(x: &Backend, y: &Backend) -> Ordering {
    super::natural(&x.name, &y.name)
}

fn by_health(x: &Backend, y: &Backend) -> Ordering {
    health_rank(&x.health).cmp(&health_rank(&y.health))
}

fn by_state(x: &Backend, y: &Backend) -> Ordering {
    x.worst_state().cmp(&y.worst_state())
}

fn by_sessions(x: &Backend, y: &Backend) -> Ordering {
    x.sessions().cmp(&y.sessions())
}

fn by_rate(x: &Backend, y: &Backend) -> Ordering {
    missing_first(x.req_rate()).total_cmp(&missing_first(y.req_rate()))
}

fn by_errors(x: &Backend, y: &Backend) -> Ordering {
    x.responses(2).cmp(&y.responses(2))
}

fn by_probe_latency(x: &Backend, y: &Backend) -> Ordering {
    missing_first(x.probe_latency_ms()).total_cmp(&missing_first(y.probe_latency_ms()))
}

/// A number that was not reported sorts below every reported one.
fn missing_first(v: Option<f64>) -> f64 {
    v.unwrap_or(-1.0)
}

fn health_rank(h: &Health) -> u8 {
    match h {
        Health::Healthy => 0,
        Health::Unknown => 1,
        Health::Unhealthy => 2,
        Health::Down => 3,
    }
}

/// A column of the balancer pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerColumn {
    /// The balancer's name.
    Name,
    /// nginx, nginx-plus or haproxy.
    Kind,
    /// keepalived's role.
    Role,
    /// keepalived's priority (effective/configured, "np" for nopreempt).
    Priority,
    /// Whether the node holds the VIP.
    Vip,
    /// UP, DOWN, stale or not polled yet.
    Status,
    /// Active connections.
    Connections,
    /// Requests per second.
    Rate,
    /// The daemon's own breakdown, or why it cannot be read.
    Detail,
    /// How long ago it was last read.
    Updated,
    /// How keepalived is followed, or why it cannot be.
    VrrpVia,
}

/// The balancer pane's columns, left to right.
pub const BALANCER_COLUMNS: [BalancerColumn; 11] = [
    BalancerColumn::Name,
    BalancerColumn::Kind,
    BalancerColumn::Role,
    BalancerColumn::Priority,
    BalancerColumn::Vip,
    BalancerColumn::Status,
    BalancerColumn::Connections,
    BalancerColumn::Rate,
    BalancerColumn::Detail,
    BalancerColumn::Updated,
    BalancerColumn::VrrpVia,
];

/// From this pane width on, the balancer pane has room for the kind, the last update
/// and how keepalived is followed, and widens its status and detail.
pub const WIDE_BALANCERS: u16 = 110;

impl BalancerColumn {
    /// The header.
    pub const fn header(self) -> &'static str {
        use BalancerColumn as C;
        match self {
            C::Name => "balancer",
            C::Kind => "kind",
            C::Role => "role",
            C::Priority => "prio",
            C::Vip => "VIP",
            C::Status => "status",
            C::Connections => "conns",
            C::Rate => "req/s",
            C::Detail => "detail",
            C::Updated => "updated",
            C::VrrpVia => "vrrp via",
        }
    }

    /// How wide it is in a pane `width` cells wide.
    pub const fn width(self, width: u16) -> Width {
        use BalancerColumn as C;
        let wide = width >= WIDE_BALANCERS;
        match self {
            C::Name => Width::Fixed(8),
            C::Kind => Width::Fixed(10),
            C::Role | C::Priority | C::Rate => Width::Fixed(7),
            C::Vip => Width::Fixed(3),
            C::Status if wide => Width::Fixed(12),
            C::Status => Width::Fixed(9),
            C::Connections => Width::Fixed(6),
            C::Detail if wide => Width::Fixed(40),
            C::Detail | C::VrrpVia => Width::Fill(10),
            C::Updated => Width::Fixed(9),
        }
    }

    /// Whether a pane `width` cells wide shows it; `vrrp` says whether any balancer
    /// runs keepalived.
    pub const fn shown(self, width: u16, vrrp: bool) -> bool {
        use BalancerColumn as C;
        match self {
            C::Kind | C::Updated | C::VrrpVia => width >= WIDE_BALANCERS,
            C::Role | C::Priority | C::Vip => vrrp,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sort_cycle_is_the_sorting_columns_in_table_order() {
        let sorting: Vec<SortKey> = BACKEND_COLUMNS
            .iter()
            .filter(|c| c.sort().is_some())
            .map(|&c| SortKey::Column(c))
            .collect();
        assert_eq!(SORT_KEYS[0], SortKey::Config);
        assert_eq!(SORT_KEYS[1..], sorting[..]);
        let labels: Vec<&str> = SORT_KEYS.iter().map(|k| k.label()).collect();
        assert_eq!(
            labels,
            ["config", "name", "health", "state", "sessions", "req/s", "5xx", "probe ms"]
        );
    }

    #[test]
    fn a_sorting_column_is_shown_on_every_screen() {
        for c in BACKEND_COLUMNS.iter().filter(|c| c.sort().is_some()) {
            assert!(c.shown(0, false), "{c:?} sorts but can be hidden");
        }
    }

    #[test]
    fn every_column_is_listed_once() {
        for (i, c) in BACKEND_COLUMNS.iter().enumerate() {
            assert!(!BACKEND_COLUMNS[i + 1..].contains(c), "{c:?} twice");
        }
        for (i, c) in BALANCER_COLUMNS.iter().enumerate() {
            assert!(!BALANCER_COLUMNS[i + 1..].contains(c), "{c:?} twice");
        }
        let headers: Vec<&str> = BACKEND_COLUMNS.iter().filter_map(|c| c.header()).collect();
        for (i, h) in headers.iter().enumerate() {
            assert!(!headers[i + 1..].contains(h), "header {h:?} twice");
        }
    }

    #[test]
    fn unsorted_keys_keep_the_table_order() {
        assert!(!SortKey::Config.descending_by_default());
        assert_eq!(
            SortKey::Column(BackendColumn::Address).label(),
            "config",
            "a column that does not sort leaves the profile's order"
        );
        assert!(SortKey::Column(BackendColumn::Sessions).descending_by_default());
        assert!(!SortKey::Column(BackendColumn::Name).descending_by_default());
    }
}
