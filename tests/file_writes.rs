//! Files smtpscope writes are written safely: `check --output` replaces a symlink instead of
//! writing through it and refuses a FIFO, a directory or a link to a device before running; the
//! data directory is created 0700 and the log, history and exports 0600 under umask 022; a
//! history file cut short is skipped with a warning naming it and never stops a run being kept
//! or the last two good runs being compared; pruning removes only the runs smtpscope wrote.

#![cfg(unix)]
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::cell::RefCell;
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::explorer::Explorer;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::tui::lab_profile;
use smtpscope::tui::message::NetEvent;
use smtpscope::tui::worker::ExportDirs;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn start_lab(policy: Policy) -> Lab {
    Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    )
    .await
    .expect("lab starts")
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config directory with a profile `lab` for `lab` (scenario A needs only the local
/// recipient).
fn config_for(lab: &Lab) -> tempfile::TempDir {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("profiles")).unwrap();
    std::fs::write(
        cfg.path().join("profiles/lab.toml"),
        format!(
            "server = \"{}\"\nca_file = \"{}\"\ntls_name = \"localhost\"\nhelo = \"probe.test\"\n\n[relay]\nlocal_recipient = \"postmaster@lab.example\"\n",
            lab.addr,
            lab.ca_path.display()
        ),
    )
    .unwrap();
    cfg
}

/// smtpscope under umask 022 (the usual default, under which a file created 0666 is 0644), so
/// a mode of 0600 or 0700 below is smtpscope's doing.
fn under_umask_022(config: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_smtpscope"))
        .args(args)
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .env("SMTPSCOPE_DATA_DIR", data)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn output_through_a_symlink_replaces_the_link_and_leaves_its_target() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let cfg = config_for(&lab);
    let dir = tempfile::tempdir().unwrap();
    // Stands for the system file a planted link pointed a report at.
    let victim = dir.path().join("victim.conf");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = under_umask_022(
        cfg.path(),
        &dir.path().join("data"),
        &[
            "check",
            "--profile",
            "lab",
            "--scenario",
            "A",
            "--format",
            "json",
            "--output",
            link.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644, "the target's mode is untouched too");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file(), "the link became the report");
    assert_eq!(mode(&link), 0o600);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&link).unwrap()).unwrap();
    assert_eq!(report["results"][0]["id"], "unauth-relay", "{report:#}");
    // Nothing else was left in the directory (no temporary file).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "data")
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// README's exit 4 for `check`: "smtpscope itself could not run or write the report". The
/// report goes into a directory that exists but takes no new file, even for root (`/proc`), so
/// `--output` passes the checks made before the run and the write at its end fails: exit 4,
/// naming the path, where the same run without `--output` exits 0.
#[test]
fn a_report_that_cannot_be_written_is_exit_4() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let cfg = config_for(&lab);
    let dir = tempfile::tempdir().unwrap();
    let args = |output: Option<&str>| {
        let mut a = vec![
            "check",
            "--profile",
            "lab",
            "--scenario",
            "A",
            "--format",
            "json",
        ];
        if let Some(o) = output {
            a.extend(["--output", o]);
        }
        under_umask_022(cfg.path(), &dir.path().join("data"), &a)
    };
    let clean = args(None);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let target = "/proc/smtpscope-report.json";
    let out = args(Some(target));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(said.contains(target), "the path is named: {said}");
    assert!(
        !said.contains("report written to"),
        "no report claimed written: {said}"
    );
    assert!(std::fs::symlink_metadata(target).is_err(), "{said}");
}

/// A FIFO would hang the run at its very end, a directory cannot take a report, and a link to a
/// device (`/dev/stdout`, `/dev/null`) is not a file to replace: each is refused, exit 2,
/// naming `--output`, before anything connects.
#[test]
fn output_that_is_not_a_file_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let to_device = dir.path().join("to-null");
    std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
    let as_dir = dir.path().join("reports");
    std::fs::create_dir(&as_dir).unwrap();
    let missing_dir = dir.path().join("nowhere/report.json");
    for (target, says) in [
        (&fifo, "is a FIFO: give the path of a file".to_string()),
        (
            &as_dir,
            "is a directory: give the path of a file".to_string(),
        ),
        (
            &to_device,
            "is a symbolic link to a character device: give the path of a file".to_string(),
        ),
        (
            &missing_dir,
            format!("no such directory {}", dir.path().join("nowhere").display()),
        ),
    ] {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let out = Command::cargo_bin("smtpscope")
            .unwrap()
            .env("SMTPSCOPE_CONFIG_DIR", dir.path().join("config"))
            .env("SMTPSCOPE_DATA_DIR", dir.path().join("data"))
            .args(["check", "--scenario", "A", "--server"])
            .arg(server.local_addr().unwrap().to_string())
            .arg("--output")
            .arg(target)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains(&format!("--output {}: {says}", target.display())),
            "{said}"
        );
        assert!(
            server
                .accept()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "check ran before refusing --output: {said}"
        );
    }
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn the_data_directory_history_report_and_log_are_private_under_umask_022() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let cfg = config_for(&lab);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = dir.path().join("report.txt");
    let out = under_umask_022(
        cfg.path(),
        &data,
        &[
            "check",
            "--profile",
            "lab",
            "--scenario",
            "A",
            "--history",
            "--output",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("history")), 0o700);
    assert_eq!(mode(&data.join("history/lab")), 0o700);
    let runs: Vec<PathBuf> = std::fs::read_dir(data.join("history/lab"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(mode(&runs[0]), 0o600, "a history file");
    assert_eq!(mode(&report), 0o600, "the report");

    // The log: the explorer writes it before it looks for the profile it was asked for.
    let fresh = dir.path().join("fresh-data");
    let out = under_umask_022(cfg.path(), &fresh, &["tui", "--profile", "no-such"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(mode(&fresh), 0o700, "the data directory, made for the log");
    assert_eq!(mode(&fresh.join("smtpscope.log")), 0o600, "the log");
}

/// The explorer's exports (F8/F9), with the process's umask at 022.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_private_under_umask_022() {
    // The umask is the whole test process's; 022 is what every test here expects anyway.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let lab = start_lab(Policy::Secure).await;
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    let mut app = Explorer::with_exports(
        "lab-secure",
        lab_profile(&lab),
        ExportDirs::from(exports.clone()),
    );
    let a = app.scenario("unauth-relay");
    app.run(a).await;
    let mut written = app.export(false).await;
    written.extend(app.export(true).await);
    assert!(!written.is_empty());
    assert_eq!(mode(&exports), 0o700, "the export directory");
    for path in &written {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
}

/// The newest history file cut short (a crash, a full disk): the next run is still kept, the
/// explorer still compares the last two good runs, and says which file it skipped; it never
/// says the run was not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_history_file_is_skipped_named_and_blocks_nothing() {
    let secure = start_lab(Policy::Secure).await;
    let open = start_lab(Policy::OpenRelay).await;
    let history = tempfile::tempdir().unwrap();
    let mut app = Explorer::full(
        "mx",
        lab_profile(&secure),
        ExportDirs::from(std::env::temp_dir().join("smtpscope-file-writes-exports")),
        Some(history.path().to_path_buf()),
    );
    let a = app.scenario("unauth-relay");
    app.run(a).await;
    let broken = history.path().join("mx/29991231-235959.999-000.json");
    std::fs::write(
        &broken,
        r#"{"record": {"tool": "smtpscope"}, "results": [{"id": "unauth"#,
    )
    .unwrap();

    app.state.profiles.entries[0].profile = lab_profile(&open);
    app.run(a).await;
    let said = RefCell::new(Vec::new());
    app.next_until(|e| {
        let NetEvent::Info(t) = e else { return false };
        said.borrow_mut().push(t.clone());
        t.starts_with("since the last run")
    })
    .await;
    let said = said.into_inner().join("\n");
    assert!(
        said.contains("A unauth-relay: PASS → FAIL (worse)"),
        "the two good runs compared: {said}"
    );
    assert!(
        said.contains(&format!(
            "warning: a history file was skipped: {}",
            broken.display()
        )),
        "the skipped file named: {said}"
    );
    assert!(!said.contains("not kept"), "{said}");
    let files = std::fs::read_dir(history.path().join("mx"))
        .unwrap()
        .count();
    assert_eq!(files, 3, "two runs and the broken file");
}

/// History keeps 50 runs; the 51st makes it drop the oldest of its own, and nothing else: not a
/// file of another name, not a symlink or a FIFO named like a run (older than every run, so
/// pruning by name alone would take them first).
#[test]
fn pruning_removes_only_the_runs_smtpscope_wrote() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let cfg = config_for(&lab);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runs = data.join("history/lab");
    std::fs::create_dir_all(&runs).unwrap();
    let doc =
        r#"{"target": {"server": "x:25"}, "results": [{"id": "unauth-relay", "verdict": "pass"}]}"#;
    let oldest_own = runs.join("20000101-000000.000-000.json");
    for i in 0..50 {
        let name = format!("20000101-0000{:02}.000-000.json", i);
        std::fs::write(runs.join(name), doc).unwrap();
    }
    let outside = dir.path().join("precious.conf");
    std::fs::write(&outside, "keep\n").unwrap();
    let link = runs.join("19990101-000000.000-000.json");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let fifo = runs.join("19990101-000000.000-001.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let notes = runs.join("notes.json");
    std::fs::write(&notes, "mine\n").unwrap();

    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", cfg.path())
        .env("SMTPSCOPE_DATA_DIR", &data)
        .args(["check", "--profile", "lab", "--scenario", "A", "--history"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("run kept in"), "{}", text(&out));
    assert!(!oldest_own.exists(), "the oldest run went");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine\n");
    let own = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .count();
    assert_eq!(own, 50, "the kept runs");
}
