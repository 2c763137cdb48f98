#!/usr/bin/env bash
# Builds target/debian/smtpscope_VERSION_ARCH.deb with cargo-deb: the release binary, the man
# page and the bash/zsh/fish completions, generated here from the binary's own clap
# definitions (`smtpscope man`, `smtpscope completions SHELL`), so they never disagree with it.
#
#   cargo install cargo-deb --locked      # once
#   bash scripts/build-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null || {
    echo "cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 2
}
cargo build --release --locked
out=target/deb-assets
rm -rf "$out"
mkdir -p "$out"
bin=target/release/smtpscope
"$bin" man | gzip -9n >"$out/smtpscope.1.gz"
"$bin" completions bash >"$out/smtpscope.bash"
"$bin" completions zsh >"$out/_smtpscope"
"$bin" completions fish >"$out/smtpscope.fish"
# The binary is already stripped of debug info by the release profile; its symbols stay for
# backtraces, so cargo-deb must not strip them.
cargo deb --no-build --no-strip --output target/debian/
ls -l target/debian/*.deb
