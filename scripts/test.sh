#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Rust components,
# Chromium for the browser tests, docker-compose to validate the compose file), starts a genuine
# Apache Kafka broker on 127.0.0.1 (unless KAFKA_BOOTSTRAP names a running one), then runs
# fmt, clippy and every test. The broker is stopped when the script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Build artefacts live outside the checkout so fresh clones (CI) reuse them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/yuqing/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

say "system packages"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

say "docker-compose.yml is valid"
docker-compose -f docker-compose.yml config -q

say "formatting"
cargo fmt --all -- --check

say "Apache Kafka"
broker="a running broker (KAFKA_BOOTSTRAP was given)"
if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  trap 'scripts/kafka.sh stop' EXIT
  kafka_log="${TMPDIR:-/tmp}/yuqing-kafka-start.log"
  KAFKA_BOOTSTRAP=$(scripts/kafka.sh start 2>"$kafka_log" | sed -n 's/^KAFKA_BOOTSTRAP=//p') \
    || { cat "$kafka_log" >&2; exit 1; }
  cat "$kafka_log"
  broker=$(grep -oE 'Apache Kafka [0-9.]+|tansu' "$kafka_log" | tail -n 1)
fi
export KAFKA_BOOTSTRAP
echo "tests use $broker at $KAFKA_BOOTSTRAP"

say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/yuqing-test.log"
status=${PIPESTATUS[0]}
grep -E '^test result:' "${TMPDIR:-/tmp}/yuqing-test.log" | awk '
  { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i; if ($(i+1) ~ /^ignored;/) s += $i } }
  END { printf "\nsummary: %d passed, %d failed, %d skipped\n", p, f, s }'
echo "tests that ran against $broker at $KAFKA_BOOTSTRAP:"
grep -E '^test .*(kafka|Kafka).* \.\.\. ' "${TMPDIR:-/tmp}/yuqing-test.log" | sed 's/^/  /' || true
echo "test.sh finished in $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit "$status"
