#!/usr/bin/env bash
# Checks the .deb scripts/build-deb.sh made, as a user of a fresh Debian would find it: its
# file list, then installed with dpkg: `smtpscope --version`, the man page found by man, bash
# completion registered; then removed with dpkg -r, leaving none of its files. Needs root
# (it installs the package) and man-db.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=$(ls -t target/debian/smtpscope_*.deb | head -1)
echo "checking $deb"
list=$(dpkg-deb -c "$deb")
for path in ./usr/bin/smtpscope ./usr/share/man/man1/smtpscope.1.gz \
    ./usr/share/bash-completion/completions/smtpscope ./usr/share/zsh/vendor-completions/_smtpscope \
    ./usr/share/fish/vendor_completions.d/smtpscope.fish; do
    grep -q " $path\$" <<<"$list" || { echo "missing from the package: $path" >&2; echo "$list" >&2; exit 1; }
done
# Depends: the C library only (libgcc-s1, the unwinder every Rust binary links, is part of
# every Debian base system).
deps=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $deps"
if tr ',' '\n' <<<"$deps" | sed 's/^ *//' | grep -qvE '^(libc6|libgcc-s1)( |$)'; then
    echo "depends on more than the C library: $deps" >&2
    exit 1
fi

dpkg -i "$deb" >/dev/null
trap 'dpkg -r smtpscope >/dev/null 2>&1 || true' EXIT
/usr/bin/smtpscope --version
man -w smtpscope
man smtpscope 2>/dev/null | grep -q "smtpscope" || { echo "man smtpscope shows nothing" >&2; exit 1; }
bash -c 'source /usr/share/bash-completion/completions/smtpscope && complete -p smtpscope' ||
    { echo "bash completion does not register" >&2; exit 1; }
files=$(dpkg -L smtpscope | grep -v '/$' || true)
dpkg -r smtpscope >/dev/null
trap - EXIT
for f in $files; do
    if [ -f "$f" ]; then
        echo "left behind after dpkg -r: $f" >&2
        exit 1
    fi
done
echo "the package installs, works and removes cleanly"
