//! The profile list's keys (d, e, D, Ctrl-S) and NO_COLOR, end to end: the real binary in a pty, with
//! what it writes to the config directory checked on disk.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pty::{ENTER, ESC, Tui};

const CTRL_S: &str = "\x13";

/// A config directory holding one profile, `alpha`, for a server nobody needs to reach.
fn config_with_alpha() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("config dir");
    std::fs::create_dir_all(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(
        dir.path().join("profiles/alpha.toml"),
        "server = \"127.0.0.1:9\"\ntls = \"none\"\n\n[relay]\nlocal_recipient = \"postmaster@alpha.test\"\n",
    )
    .expect("write alpha");
    dir
}

/// Polls (bounded) until `pred` holds for the file at `path`.
fn wait_file(path: &Path, what: &str, pred: impl Fn(Option<String>) -> bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).ok();
        if pred(text.clone()) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{}: never {what}; now {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn d_e_and_shift_d_duplicate_edit_and_delete_profiles_on_disk() {
    let cfg = config_with_alpha();
    let copy = cfg.path().join("profiles/alpha-copy.toml");
    let mut tui = Tui::spawn(cfg.path(), &[]);
    tui.wait_for(" alpha │ 127.0.0.1:9 │");

    // In the profile list (p), d opens alpha's TOML under a new name; Ctrl-S writes it and
    // makes it current.
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press("d");
    // The name is asked first, offered as alpha-copy.
    tui.wait_for("Name of the copy of alpha: alpha-copy");
    tui.press(ENTER);
    tui.wait_for(" Profile alpha-copy — Ctrl-S saves");
    tui.press(CTRL_S);
    let text = wait_file(&copy, "written", |t| t.is_some()).unwrap();
    assert!(text.contains("server = \"127.0.0.1:9\""), "{text}");
    assert!(text.contains("postmaster@alpha.test"), "{text}");
    tui.wait_for(" alpha-copy │ 127.0.0.1:9 │");

    // e edits the selected profile: a line typed at the top is saved with it.
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press("e");
    tui.wait_for(" Profile alpha-copy — Ctrl-S saves");
    tui.press("helo = \"edited.example\"");
    tui.press(ENTER);
    tui.press(CTRL_S);
    let text = wait_file(&copy, "edited", |t| {
        t.is_some_and(|t| t.contains("edited.example"))
    })
    .unwrap();
    assert!(
        text.contains("server = \"127.0.0.1:9\""),
        "the rest is kept: {text}"
    );

    // A broken edit is refused with where it broke, and the file on disk is untouched.
    tui.press("p");
    tui.wait_for("last verdicts");
    tui.press("e");
    tui.wait_for(" Profile alpha-copy — Ctrl-S saves");
    tui.press("junk = ");
    tui.press(ENTER);
    tui.press(CTRL_S);
    // The file, line and column of the mistake.
    tui.wait_for("alpha-copy.toml:1:");
    tui.press(ESC);
    // The editor gone is the Esc handled (an event, not a sleep); only then the next key, or
    // the terminal reads Esc and `p` together as Alt-p.
    tui.wait_until("the editor closed by Esc", |t| {
        !t.screen().contains(" Profile alpha-copy — Ctrl-S saves")
    });

    // D asks first: any key but y keeps the profile, y deletes its file. The broken edit left
    // the file as it was.
    tui.press("p");
    tui.wait_for("last verdicts");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), text);
    tui.press("D");
    tui.wait_for("Delete profile alpha-copy?");
    tui.press("n");
    // Likewise: the list reopened after `n` means `n` was handled, and the file is still there.
    tui.press("p");
    tui.wait_for("last verdicts");
    assert!(copy.exists(), "n keeps the profile");
    tui.press("D");
    tui.wait_for("Delete profile alpha-copy?");
    tui.press("y");
    wait_file(&copy, "deleted", |t| t.is_none());
    tui.wait_for("profile alpha-copy deleted");
    tui.wait_for(" alpha │ 127.0.0.1:9 │");
    assert!(
        cfg.path().join("profiles/alpha.toml").exists(),
        "only the chosen profile goes"
    );
    tui.quit_and_check_restored();
}

#[test]
fn no_color_in_the_environment_draws_without_colours() {
    let cfg = config_with_alpha();
    let coloured = {
        let mut tui = Tui::spawn(cfg.path(), &[]);
        tui.wait_for(" alpha │ 127.0.0.1:9 │");
        let n = tui.coloured_cells();
        tui.quit_and_check_restored();
        n
    };
    assert!(coloured > 0, "without NO_COLOR the screen has colour");
    let mut tui = Tui::spawn_with_env(cfg.path(), &[], &[("NO_COLOR", "1")]);
    tui.wait_for(" alpha │ 127.0.0.1:9 │");
    assert_eq!(tui.coloured_cells(), 0, "{}", tui.screen());
    tui.quit_and_check_restored();
}
