#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz with cargo-fuzz (libFuzzer, nightly toolchain).
#
#   tests/fuzz/run.sh smoke            a few seconds per target (the README's test command)
#   tests/fuzz/run.sh seconds N        N seconds per target
#   tests/fuzz/run.sh runs N           N executions per target
#   tests/fuzz/run.sh ... TARGET...    only these targets
#
# Installs cargo-fuzz (from crates.io) and builds under ~/.cache/sealed-secrets-rs, so later
# runs only rebuild what changed. Corpora grow in ~/.cache/sealed-secrets-rs/fuzz-corpus,
# seeded from tests/fuzz/seeds; crashes are written to tests/fuzz/artifacts/<target>/.
# Prints one line per target: executions, executions per second, peak RSS, and the outcome;
# exits non-zero if any target found a crash, a leak, a timeout or an out-of-memory.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode="${1:-smoke}"
amount="${2:-}"
case "$mode" in
  smoke) limit=(-max_total_time=5); shift || true ;;
  seconds) limit=(-max_total_time="${amount:?seconds N}"); shift 2 ;;
  runs) limit=(-runs="${amount:?runs N}"); shift 2 ;;
  *) echo "usage: $0 smoke | seconds N | runs N [TARGET...]" >&2; exit 2 ;;
esac

cache="${HOME:?}/.cache/sealed-secrets-rs"
export PATH="$cache/cargo-fuzz/bin:$PATH"
export CARGO_TARGET_DIR="$cache/fuzz-target"
command -v cargo-fuzz >/dev/null || {
  echo "==> installing cargo-fuzz into $cache/cargo-fuzz" >&2
  CARGO_TARGET_DIR="$cache/cargo-fuzz-build" cargo install cargo-fuzz --locked --root "$cache/cargo-fuzz" >&2
}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  # The smoke in ./test.sh is skipped, loudly, on a machine without nightly (it cannot be
  # fetched here); the long runs need it.
  echo "error: the nightly toolchain is needed for cargo-fuzz (rustup toolchain install nightly)" >&2
  [ "$mode" = smoke ] && { echo "==> fuzz smoke SKIPPED: no nightly toolchain" >&2; exit 0; }
  exit 1
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir tests/fuzz)
fi
echo "==> building ${#targets[@]} fuzz targets" >&2
cargo +nightly fuzz build --fuzz-dir tests/fuzz >&2

failed=0
for target in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$target"
  mkdir -p "$corpus" "tests/fuzz/artifacts/$target"
  [ -d "tests/fuzz/seeds/$target" ] && cp -n "tests/fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  log="$(mktemp)"
  # -rss_limit_mb catches leaks and unbounded allocations; -timeout a hang of one input.
  if cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$corpus" -- \
      "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="tests/fuzz/artifacts/$target/" >"$log" 2>&1; then
    outcome=ok
  else
    outcome="FAILED (see tests/fuzz/artifacts/$target/)"
    failed=1
    tail -n 30 "$log" >&2
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
  rss="$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
  printf '%-16s %12s execs %8s exec/s %6s MB peak RSS  %s\n' \
    "$target" "${runs:-?}" "${rate:-?}" "${rss:-?}" "$outcome"
  rm -f "$log"
done
exit "$failed"
