#!/usr/bin/env bash
# Mutation testing of the protocol core (the security gate, the command flow, validation), the
# verdict rules and the run layer's stepper, bounded in time.
#
#   bash scripts/mutants.sh              # every file below, at most 45 minutes in all
#   MUTANTS_WALL_CLOCK=20m bash scripts/mutants.sh
#   MUTANTS_FILES="src/scenario/verdict.rs" bash scripts/mutants.sh
#
# cargo-mutants changes one thing at a time in the code (a `>` into `>=`, a function body into
# a default value) and runs the tests: a mutant the tests still pass is a gap. Each file is
# tested with its own package's fast tests: crates/smtp with the protocol core's tests,
# src/scenario with the library's unit tests (`--lib`: the integration tests need minutes of
# linking per mutant). Results: target/mutants/<file>/mutants.out/ (caught.txt, missed.txt,
# timeout.txt, unviable.txt, outcomes.json). TESTING.md records the last figures.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
  cargo install cargo-mutants --locked
fi

wall_clock=${MUTANTS_WALL_CLOCK:-45m}
files=${MUTANTS_FILES:-"crates/smtp/src/session.rs crates/smtp/src/flow.rs crates/smtp/src/validate.rs src/scenario/verdict.rs src/run/scenario_run.rs"}
# One build directory at a time (the machine may be shared); dependencies are built once into
# a target directory kept between runs, not again in every scratch copy.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/mutants-build}

# The whole run is bounded by one clock: each file gets what is left of it.
end=$(( $(date +%s) + $(awk -v t="$wall_clock" 'BEGIN {
  n = t + 0; u = substr(t, length(t));
  print (u == "h") ? n * 3600 : (u == "m") ? n * 60 : n }') ))
status=0
for file in $files; do
  left=$(( end - $(date +%s) ))
  if [ "$left" -le 0 ]; then
    echo "mutants: out of time before $file" >&2
    status=1
    break
  fi
  # A file of crates/smtp is only found with --workspace (the root package is the default);
  # its mutants are then tested with that package's own tests.
  case "$file" in
    crates/*) test_args=(--workspace) ;;
    # --lib for the build as well as the test run (`-- --lib` reached only the test run, so
    # every mutant also relinked every integration test: minutes apiece instead of one).
    *) test_args=(--cargo-arg=--lib) ;;
  esac
  out="target/mutants/$(echo "$file" | tr / _)"
  mkdir -p "$out"
  echo "mutants: $file (at most ${left}s)" >&2
  # --timeout: one mutant's tests; exit 2 (missed mutants) and 3 (timeouts) are results, not
  # failures of the script; 124 means the wall clock ran out (partial results are kept).
  set +e
  timeout --signal=INT --kill-after=30 "$left" \
    cargo mutants --jobs 1 --timeout 60 --file "$file" --output "$out" "${test_args[@]}"
  code=$?
  set -e
  case "$code" in
    0 | 2 | 3) ;;
    124 | 130) echo "mutants: wall clock reached during $file; partial results in $out" >&2; status=1 ;;
    *) echo "mutants: cargo mutants failed on $file (exit $code)" >&2; status=1 ;;
  esac
  for kind in caught missed timeout unviable; do
    f="$out/mutants.out/$kind.txt"
    printf '  %-9s %s\n' "$kind" "$( [ -f "$f" ] && wc -l <"$f" || echo '?')" >&2
  done
done
exit "$status"
