//! Lab scenarios for nginx upstream files as operators keep them: a profile whose
//! `upstream_file` does not define the upstream (lbdeck finds the file through
//! `nginx -T`), and a file whose owner and mode are not root's defaults (a drain and an
//! undrain keep both).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{lbdeck_ok, profile_variant, status, upstream_file};

/// Owner, group and mode of a file.
fn meta(path: &std::path::Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).expect("metadata");
    (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
}

/// A drain and an undrain through a profile that names a file without the upstream:
/// both act on the file `nginx -T` shows (conf.d/upstream.conf), `check` says so,
/// `status` reads the drained server there, and each file keeps its owner (uid/gid 33)
/// and mode (0640), then is back byte for byte.
pub fn nginx_drain_finds_the_upstream_through_nginx_t_keeping_owner_and_mode() {
    let state = tempfile::tempdir().expect("tempdir");
    let profile = profile_variant(
        state.path(),
        "lab",
        "upstream_file = \"/etc/nginx/conf.d/upstream.conf\"",
        "upstream_file = \"/etc/nginx/nginx.conf\"",
    );
    let files = [upstream_file("lb1"), upstream_file("lb2")];
    let original: Vec<(Vec<u8>, (u32, u32, u32))> = files
        .iter()
        .map(|f| (std::fs::read(f).expect("read"), meta(f)))
        .collect();
    for f in &files {
        std::os::unix::fs::chown(f, Some(33), Some(33)).expect("chown");
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let out = lbdeck_ok(&["check", "--profile", &profile], state.path());
    assert!(
        out.contains(
            "✓ upstream file /etc/nginx/conf.d/upstream.conf defines upstream be_web \
             (found through nginx -T)"
        ),
        "{out}"
    );
    let out = lbdeck_ok(
        &["drain", "--profile", &profile, "web2", "--yes"],
        state.path(),
    );
    assert!(out.contains("drain web2: done"), "{out}");
    for f in &files {
        let now = std::fs::read_to_string(f).expect("read");
        assert!(
            now.contains("server 10.77.0.22:80 max_fails=1 fail_timeout=2s down;"),
            "{now}"
        );
        assert_eq!(
            meta(f),
            (33, 33, 0o640),
            "{}: owner and mode kept",
            f.display()
        );
    }
    // The poll reads the file nginx -T shows too: web2 is out of rotation on both.
    let v = status(&profile);
    assert_eq!(v["in_rotation"], 2, "{v:#}");
    let out = lbdeck_ok(
        &["undrain", "--profile", &profile, "web2", "--yes"],
        state.path(),
    );
    assert!(out.contains("undrain web2: done"), "{out}");
    for (f, (bytes, (uid, gid, mode))) in files.iter().zip(original) {
        assert_eq!(std::fs::read(f).expect("read"), bytes, "back byte for byte");
        assert_eq!(
            meta(f),
            (33, 33, 0o640),
            "{}: owner and mode kept",
            f.display()
        );
        std::os::unix::fs::chown(f, Some(uid), Some(gid)).expect("chown back");
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).expect("chmod back");
    }
}
