//! Layers point down, never up: a front end may use anything below it, a core layer never a
//! front end. Read from the source, so a new `use` that points up fails here with its file.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module's layer; a module may use modules of a lower layer only.
const LAYERS: &[(&str, u8)] = &[
    ("smtp", 0),
    ("tls_info", 0),
    ("terminal_text", 0),
    // The terminal-safe print macros (`crate::outln!` …), exported from `terminal_text`.
    ("out", 0),
    ("outln", 0),
    ("err", 0),
    ("errln", 0),
    ("advice", 0),
    // Reading a file the user named: regular files only, size-capped (profiles, secrets,
    // scenarios, reports, TLS files and message parts all go through it).
    ("bounded_read", 0),
    ("transcript", 1),
    // Writing smtpscope's own files: 0600, whole, never through a symlink.
    ("private_write", 1),
    ("net", 2),
    ("secret", 2),
    ("profile", 3),
    ("data_dir", 3),
    ("lab", 3),
    // Reading a mail server's log: counts and thresholds, no I/O of its own but the file's.
    ("watch", 3),
    ("scenario", 4),
    ("oneshot", 4),
    ("compose", 4),
    ("report", 5),
    ("export", 5),
    ("history", 5),
    ("dns", 5),
    ("target", 6),
    ("run", 7),
    ("exit", 7),
    // The flag definitions, which only the command-line front end reads.
    ("cli", 8),
    // The two front ends, side by side: neither may use the other.
    ("commands", 9),
    ("tui", 9),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::`, in code (comments left out), with
/// grouped imports (`use crate::{a, b::c}`) expanded.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // Only the first segment of each item at the top of the group matters.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(first_segment(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                out.insert(first_segment(&item));
            } else {
                out.insert(first_segment(after));
            }
            rest = after;
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn the_scanner_sees_grouped_and_nested_imports() {
    let uses = crate_uses(
        "use crate::{net::{Connection, TlsMode}, smtp::Reply};\n// crate::tui in a comment\nlet x = crate::target::resolve(); use crate::{exit};",
    );
    assert_eq!(
        uses.into_iter().collect::<Vec<_>>(),
        ["exit", "net", "smtp", "target"]
    );
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let module = module_of(&root, file);
        // The crate root and the binary choose between front ends: they sit above all.
        let Some(own) = layer(&module) else {
            assert!(
                module == "lib" || module == "main",
                "{}: module {module:?} has no layer; add it to LAYERS",
                file.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_uses(&text) {
            if used == module {
                continue;
            }
            checked += 1;
            let Some(theirs) = layer(&used) else {
                violations.push(format!("{}: crate::{used} has no layer", file.display()));
                continue;
            };
            if theirs >= own {
                violations.push(format!(
                    "{}: {module} (layer {own}) uses crate::{used} (layer {theirs})",
                    file.display()
                ));
            }
        }
    }
    assert!(checked > 50, "the scan found only {checked} imports");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The protocol core is its own crate so the compiler keeps I/O out of it; that holds only as
/// long as its dependencies stay pure. A new one must be added here, on purpose.
#[test]
fn the_protocol_core_depends_on_no_io_crate() {
    const ALLOWED: &[&str] = &[
        "base64",
        "hmac",
        "md-5",
        "secrecy",
        "serde",
        "thiserror",
        "zeroize",
    ];
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/smtp/Cargo.toml"),
    )
    .unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            // Build and target-specific dependencies count too; dev-dependencies do not ship.
            in_deps = line.contains("dependencies") && !line.contains("dev-dependencies");
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            deps.push(name.trim().to_string());
        }
    }
    assert!(deps.len() >= 5, "dependencies not found in {manifest}");
    for dep in &deps {
        assert!(
            ALLOWED.contains(&dep.as_str()),
            "crates/smtp depends on {dep}: the protocol core must stay free of I/O crates"
        );
    }
}

/// Text from a server, DNS, a certificate or a file reaches a terminal only through the one
/// terminal-safe printer (`src/terminal_text.rs`): a print macro or a raw write to stdout or
/// stderr anywhere else in the program is where a hostile server's escape sequences would get
/// through. Test code (after `#[cfg(test)]`, or a `tests.rs`) is not the program.
#[test]
fn only_the_terminal_safe_printer_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let forbidden = [
        "println!(",
        "print!(",
        "eprintln!(",
        "eprint!(",
        "io::stdout().lock()",
        "io::stderr().lock()",
        "io::stdout().write",
        "io::stderr().write",
        "(std::io::stdout()",
        "(std::io::stderr()",
    ];
    // Where the terminal itself is driven: the explorer's backend writes frames (its text is
    // made safe where lines are built, `tui/lines.rs`), and the input thread's tty checks.
    let allowed = ["terminal_text.rs", "tui/mod.rs", "tui/hangup.rs"];
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if allowed.iter().any(|a| rel == *a) || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                // `out!(`/`err!(` end in the same letters: only the bare macros count.
                let bare = code.match_indices(f).any(|(at, _)| {
                    at == 0
                        || !code[..at]
                            .chars()
                            .last()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                        || f.starts_with("io::")
                });
                if bare {
                    found.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "print through crate::outln!/errln! (src/terminal_text.rs), not directly:\n{}",
        found.join("\n")
    );
}
