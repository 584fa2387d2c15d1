//! Render and parse benchmarks: a full frame with 2 balancers and 1,000 backends (the
//! issue's target: under 2 ms), and parser throughput on real-format input.
//! Run: cargo bench --bench render

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use lbdeck::action::Action;
use lbdeck::app::keys::Keymap;
use lbdeck::app::App;
use lbdeck::config::log_format::{LogFormat, DEFAULT_FORMAT};
use lbdeck::config::profile::Profile;
use lbdeck::config::theme::ThemeSet;
use lbdeck::demo::Sim;
use lbdeck::sources::{access_log, BalancerSample, SourceUpdate};
use lbdeck::wire::health::Probe;
use lbdeck::wire::{haproxy, keepalived, nginx};

const BACKENDS: usize = 1000;

fn sim(backends: usize) -> Sim {
    let mut sim = Sim::new(backends);
    for _ in 0..40 {
        sim.step(0.25);
    }
    sim
}

/// The console after 30 polls of a simulated pair with `backends` servers.
fn app_with(backends: usize) -> App {
    let profile = Profile::parse(
        "bench.toml",
        "name = \"bench\"\n[vip]\naddress = \"10.0.0.100\"\ncheck_url = \"http://10.0.0.100/\"\n\
         [[balancers]]\nname = \"lb1\"\nhost = \"10.0.0.11\"\nkind = \"haproxy\"\nbackend = \"be_web\"\n\
         [[balancers]]\nname = \"lb2\"\nhost = \"10.0.0.12\"\nkind = \"haproxy\"\nbackend = \"be_web\"\n",
    )
    .expect("profile");
    let themes = ThemeSet::load_from(None).expect("themes");
    let mut app = App::new(&profile, Keymap::default(), themes, 0, false);
    let mut sim = sim(backends);
    let t0 = Instant::now();
    for round in 0..30u64 {
        let at = t0 + Duration::from_secs(round);
        for lb in 0..2 {
            let stats = haproxy::parse_stat(&sim.show_stat(lb)).expect("csv");
            let info = haproxy::parse_info(&sim.show_info(lb)).ok();
            app.update(Action::Update(SourceUpdate::Balancer {
                index: lb,
                at,
                result: Ok(BalancerSample::Haproxy {
                    info,
                    stats,
                    admin: None,
                    access: None,
                }),
            }));
        }
        app.update(Action::Update(SourceUpdate::Vip {
            at,
            result: Ok(Probe {
                status: 200,
                latency: Duration::from_millis(1),
            }),
        }));
        for _ in 0..4 {
            sim.step(0.25);
        }
    }
    app.update(Action::Tick(t0 + Duration::from_secs(30)));
    assert_eq!(app.cluster.backends.len(), backends);
    app
}

fn render(c: &mut Criterion) {
    // What the lab's watching console draws once a second.
    let pair = app_with(3);
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    c.bench_function("frame 200x50, 2 balancers, 3 backends", |b| {
        b.iter(|| {
            term.draw(|f| lbdeck::ui::draw(f, &pair))
                .map(|_| ())
                .expect("draw")
        })
    });
    let app = app_with(BACKENDS);
    for (w, h) in [(200u16, 60u16), (80, 24)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        c.bench_function(&format!("frame {w}x{h}, 2 balancers, 1000 backends"), |b| {
            b.iter(|| {
                term.draw(|f| lbdeck::ui::draw(f, &app))
                    .map(|_| ())
                    .expect("draw")
            })
        });
    }
}

fn parse(c: &mut Criterion) {
    let sim = sim(BACKENDS);
    let csv = sim.show_stat(0);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("show stat, 1000 servers", |b| {
        b.iter(|| haproxy::parse_stat(&csv).expect("csv"))
    });
    let real = include_str!("../tests/fixtures/haproxy/show_stat.csv");
    g.throughput(Throughput::Bytes(real.len() as u64));
    g.bench_function("show stat, HAProxy 2.6 capture", |b| {
        b.iter(|| haproxy::parse_stat(real).expect("csv"))
    });
    let stub = include_str!("../tests/fixtures/nginx/stub_status.txt");
    g.throughput(Throughput::Bytes(stub.len() as u64));
    g.bench_function("stub_status", |b| {
        b.iter(|| nginx::parse(stub).expect("stub"))
    });
    let state = include_str!("../tests/fixtures/haproxy/show_servers_state_mixed.txt");
    g.throughput(Throughput::Bytes(state.len() as u64));
    g.bench_function("show servers state, capture", |b| {
        b.iter(|| haproxy::parse_servers_state(state).expect("state"))
    });
    let dump = include_str!("../tests/fixtures/keepalived/dump_master.json");
    g.throughput(Throughput::Bytes(dump.len() as u64));
    g.bench_function("keepalived JSON dump, capture", |b| {
        b.iter(|| keepalived::parse_dump(dump).expect("dump"))
    });
    let log = include_str!("../tests/fixtures/nginx/access_lbdeck.log");
    let fmt = LogFormat::parse(DEFAULT_FORMAT).expect("format");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.bench_function("access log lines, capture", |b| {
        b.iter(|| {
            log.lines()
                .filter_map(|l| access_log::parse_line(&fmt, l))
                .count()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60).measurement_time(Duration::from_secs(4));
    targets = render, parse
}
criterion_main!(benches);
