use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::config::profile::Profile;

const NGINX: &str = r#"
name = "web-nginx"
environment = "staging"
background_interval = "15s"
[[balancers]]
name = "n1"
host = "127.0.0.1"
kind = "nginx"
status_url = "http://127.0.0.1:9/nginx_status"
[[balancers]]
name = "n2"
host = "127.0.0.1"
kind = "nginx"
status_url = "http://127.0.0.1:9/nginx_status"
[[backends]]
name = "w1"
address = "127.0.0.1:9"
"#;

const HAPROXY: &str = r#"
name = "shop-haproxy"
environment = "production"
[[balancers]]
name = "h1"
host = "127.0.0.1"
kind = "haproxy"
runtime_api = "tcp://127.0.0.1:9"
[[balancers]]
name = "h2"
host = "127.0.0.1"
kind = "haproxy"
runtime_api = "tcp://127.0.0.1:9"
"#;

const BROKEN: &str = "name = \"broken\"\nbalancers = 3\n";

/// A fleet of profiles parsed from `(file, text)`, as `lbdeck` loads them: a broken one
/// keeps its one-line error, named after its file.
pub(crate) fn fleet_of(files: &[(&str, &str)]) -> Fleet {
    let members = files
        .iter()
        .map(|(file, text)| match Profile::parse(file, text) {
            Ok(p) => Member {
                name: p.name.clone(),
                state: Ok(Box::new(App::new(
                    &p,
                    Keymap::default(),
                    ThemeSet::load_from(None).expect("themes"),
                    0,
                    false,
                ))),
            },
            Err(e) => Member {
                name: std::path::Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                state: Err(e.to_string()),
            },
        })
        .collect();
    Fleet::new(
        members,
        Keymap::default(),
        ThemeSet::load_from(None).expect("themes"),
        0,
        false,
    )
}

/// The three profiles as files in a directory, listed as `lbdeck` lists them.
pub(crate) const THREE: [(&str, &str); 3] = [
    ("a-nginx.toml", NGINX),
    ("b-haproxy.toml", HAPROXY),
    ("c-broken.toml", BROKEN),
];

/// Three profiles read from a directory as `lbdeck` reads them: an nginx pair, an
/// HAProxy pair and a broken one.
fn three() -> (Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, text) in THREE {
        std::fs::write(dir.path().join(file), text).expect("write");
    }
    let files: Vec<String> = crate::status::profile_files(&[dir.path().to_path_buf()])
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    let pairs: Vec<(&str, &str)> = files
        .iter()
        .map(String::as_str)
        .zip(texts.iter().map(String::as_str))
        .collect();
    (fleet_of(&pairs), dir)
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}

fn name_of(f: &Fleet, i: usize) -> &str {
    &f.members[i].name
}

#[test]
fn three_profiles_give_three_rows_production_first_and_the_broken_one_with_its_error() {
    let (f, _dir) = three();
    let rows = f.rows();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["shop-haproxy", "web-nginx", "c-broken"]);
    let broken = &rows[2];
    let error = broken.error.as_deref().expect("an error");
    assert!(error.contains("c-broken.toml:2:"), "{error}");
    assert_eq!(rows[0].roles.len(), 2);
    assert_eq!(rows[1].healthy, (0, 1));
    assert_eq!(f.ui.selected, Some(rows[0].index));
}

#[test]
fn enter_opens_esc_goes_back_and_the_paces_follow() {
    let (mut f, _dir) = three();
    f.update(ch('j'));
    let nginx = f.ui.selected.expect("selected");
    assert_eq!(name_of(&f, nginx), "web-nginx");
    let effects = f.update(key(KeyCode::Enter));
    assert_eq!(f.front, Some(nginx));
    assert_eq!(
        effects,
        vec![
            (
                nginx,
                Effect::Pace {
                    every: Duration::from_secs(1),
                    front: true
                }
            ),
            (nginx, Effect::PollNow)
        ]
    );
    assert!(f.front_app().is_some_and(|a| a.in_fleet));
    // Keys now reach the cluster in front: j moves its backend selection.
    f.update(ch('j'));
    assert_eq!(
        f.front_app().and_then(|a| a.ui.selected_backend.clone()),
        Some("w1".into())
    );
    let effects = f.update(key(KeyCode::Esc));
    assert_eq!(f.front, None);
    assert_eq!(
        effects,
        vec![(
            nginx,
            Effect::Pace {
                every: Duration::from_secs(15),
                front: false
            }
        )]
    );
    // In the background, stale means late for its own pace.
    let app = f.members[nginx].app().expect("app");
    assert_eq!(app.cluster.poll_interval, Duration::from_secs(15));
    // Its state was kept: opened again, the selection is where it was.
    f.update(key(KeyCode::Enter));
    assert_eq!(
        f.front_app().and_then(|a| a.ui.selected_backend.clone()),
        Some("w1".into())
    );
}

#[test]
fn a_broken_profile_does_not_open_and_says_why() {
    let (mut f, _dir) = three();
    f.update(Action::Bottom);
    let effects = f.update(key(KeyCode::Enter));
    assert!(effects.is_empty());
    assert_eq!(f.front, None);
    let said = f.flash.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    assert!(
        said.contains("cannot be used") && said.contains("c-broken.toml:2:"),
        "{said}"
    );
}

#[test]
fn the_picker_opens_from_a_cluster_and_switches_by_fuzzy_name() {
    let (mut f, _dir) = three();
    f.update(key(KeyCode::Enter));
    let shop = f.front.expect("open");
    assert_eq!(name_of(&f, shop), "shop-haproxy");
    f.update(ch('C'));
    assert!(f.ui.picker.is_some());
    // Nothing typed yet: every cluster, in the overview's order (production first).
    let listed: Vec<&str> = f.picks().into_iter().map(|i| name_of(&f, i)).collect();
    let overview: Vec<&str> = f.rows().iter().map(|r| name_of(&f, r.index)).collect();
    assert_eq!(listed, overview);
    assert_eq!(listed[0], "shop-haproxy");
    for c in "wbn".chars() {
        f.update(ch(c));
    }
    let picks = f.picks();
    assert_eq!(picks.len(), 1);
    assert_eq!(name_of(&f, picks[0]), "web-nginx");
    let effects = f.update(key(KeyCode::Enter));
    assert!(f.ui.picker.is_none());
    let nginx = f.front.expect("switched");
    assert_eq!(name_of(&f, nginx), "web-nginx");
    // The cluster left goes to its background pace, the new one to its own.
    assert_eq!(
        effects[0],
        (
            shop,
            Effect::Pace {
                every: Duration::from_secs(10),
                front: false
            }
        )
    );
    assert_eq!(
        effects[1],
        (
            nginx,
            Effect::Pace {
                every: Duration::from_secs(1),
                front: true
            }
        )
    );
    // Esc closes the picker without switching.
    f.update(ch('C'));
    f.update(key(KeyCode::Esc));
    assert!(f.ui.picker.is_none());
    assert_eq!(f.front, Some(nginx));
}

#[test]
fn actions_on_the_overview_are_refused_and_filter_and_sort_work() {
    let (mut f, _dir) = three();
    assert!(f.update(ch('d')).is_empty());
    let said = f.flash.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    assert!(said.contains("open a cluster first"), "{said}");
    f.update(ch('/'));
    for c in "nginx".chars() {
        f.update(ch(c));
    }
    f.update(key(KeyCode::Enter));
    let names: Vec<String> = f.rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["web-nginx"]);
    f.update(key(KeyCode::Esc));
    assert_eq!(f.rows().len(), 3);
    f.update(ch('o'));
    assert_eq!(f.ui.sort, FleetSort::Name);
    let names: Vec<String> = f.rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["c-broken", "shop-haproxy", "web-nginx"]);
}

#[test]
fn a_background_alarm_reaches_the_overview_and_the_badge() {
    use crate::sources::SourceUpdate;
    use crate::wire::SourceError;
    let (mut f, _dir) = three();
    let shop = f.ui.selected.expect("shop");
    f.update(ch('j'));
    f.update(key(KeyCode::Enter));
    let nginx = f.front.expect("nginx in front");
    let now = Instant::now();
    for index in 0..2 {
        f.update_cluster(
            shop,
            Action::Update(SourceUpdate::Balancer {
                index,
                at: now,
                result: Err(SourceError::Connect("Connection refused".into())),
            }),
        );
    }
    assert_eq!(f.front, Some(nginx));
    // Counted at the next tick.
    f.update(Action::Tick(now));
    assert_eq!(f.front_app().map(|a| a.others_alarming), Some(1));
    f.update(key(KeyCode::Esc));
    let row = f.rows().into_iter().find(|r| r.index == shop).expect("row");
    let worst = row.worst.expect("an alarm");
    assert_eq!(worst.level, Level::Error);
    assert_eq!(f.alarming(), 1);
}

#[test]
fn a_console_on_one_profile_has_no_overview_to_go_back_to() {
    let (f, _dir) = three();
    let app = f
        .members
        .into_iter()
        .find_map(|m| m.state.ok())
        .expect("app");
    let mut single = Fleet::single(*app);
    assert!(single.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(single.front, Some(0));
    single.update(ch('C'));
    assert!(single.ui.picker.is_none());
}

#[test]
fn switching_takes_well_under_a_frame_budget() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let (mut f, _dir) = three();
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let started = Instant::now();
    let rounds = 50;
    for _ in 0..rounds {
        f.update(key(KeyCode::Enter));
        term.draw(|fr| crate::ui::fleet::draw(fr, &f))
            .expect("draw");
        f.update(key(KeyCode::Esc));
        term.draw(|fr| crate::ui::fleet::draw(fr, &f))
            .expect("draw");
    }
    let each = started.elapsed() / (rounds * 2);
    eprintln!("switch (update + frame): {each:?}");
    assert!(each < Duration::from_millis(100), "{each:?}");
}

#[test]
fn the_picker_and_back_keys_are_remappable() {
    let (mut f, _dir) = three();
    f.keymap = Keymap::parse(
        "k.toml",
        "[keys]\nclusters = [\"ctrl-k\"]\nback = [\"left\"]\n",
    )
    .expect("keymap");
    for m in &mut f.members {
        if let Ok(app) = m.state.as_mut() {
            app.keymap = f.keymap.clone();
        }
    }
    f.update(key(KeyCode::Enter));
    assert!(f.front.is_some());
    // Esc is no longer bound: the cluster stays in front.
    f.update(key(KeyCode::Esc));
    assert!(f.front.is_some());
    f.update(Action::Key(KeyEvent::new(
        KeyCode::Char('k'),
        KeyModifiers::CONTROL,
    )));
    assert!(f.ui.picker.is_some());
    f.update(key(KeyCode::Esc));
    f.update(key(KeyCode::Left));
    assert_eq!(f.front, None);
}

#[test]
fn a_round_asked_for_many_clusters_at_once_reaches_each_of_them() {
    use crate::sources::prometheus::tests::grouped;
    let (profiles, plans, round) = grouped();
    let members = profiles
        .iter()
        .map(|p| Member {
            name: p.name.clone(),
            state: Ok(Box::new(App::new(
                p,
                Keymap::default(),
                ThemeSet::load_from(None).expect("themes"),
                0,
                false,
            ))),
        })
        .collect();
    let mut fleet = Fleet::new(
        members,
        Keymap::default(),
        ThemeSet::load_from(None).expect("themes"),
        0,
        false,
    );
    let plans: Vec<&crate::sources::prometheus::Plan> = plans.iter().collect();
    let now = Instant::now();
    for (i, (part, plan)) in round.split(&plans).iter().zip(&plans).enumerate() {
        for u in part.updates(plan, now) {
            assert!(fleet.update_cluster(i, Action::Update(u)).is_empty());
        }
    }
    let rows = fleet.rows();
    let by_name = |name: &str| rows.iter().find(|r| r.name == name).expect(name);
    let roles = |name: &str| -> Vec<Option<Role>> {
        by_name(name).roles.iter().map(|r| r.1.flatten()).collect()
    };
    assert_eq!(
        roles("fleet-004"),
        vec![Some(Role::Master), Some(Role::Backup)]
    );
    assert_eq!(
        roles("fleet-008"),
        vec![Some(Role::Backup), Some(Role::Master)]
    );
    assert!(rows.iter().all(|r| r.pair == Pair::Ok));
    assert_eq!(by_name("fleet-004").in_rotation, Some((9, 10)));
    assert_eq!(by_name("fleet-005").in_rotation, Some((8, 10)));
    assert!(rows.iter().all(|r| r.age.is_some()));
}
