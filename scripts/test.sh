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
# A CJK font, so the browser tests' pages and screenshots show text rather than boxes.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-noto-cjk)
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
# kafka.sh prints exactly one line on stdout; anything else (or nothing) stops the run here.
bootstrap_line='^KAFKA_BOOTSTRAP=127\.0\.0\.1:[0-9]+$'
start_broker() { # $1: log file; the rest: environment for kafka.sh
  local log=$1 out
  shift
  if ! out=$(env "$@" scripts/kafka.sh start 2>"$log"); then
    cat "$log" >&2
    echo "test.sh: the Kafka broker did not start (log above)" >&2
    return 1
  fi
  if ! [[ "$out" =~ $bootstrap_line ]]; then
    cat "$log" >&2
    printf 'test.sh: kafka.sh start printed %q on stdout, not one line KAFKA_BOOTSTRAP=127.0.0.1:PORT\n' "$out" >&2
    return 1
  fi
  printf '%s\n' "${out#KAFKA_BOOTSTRAP=}"
}

broker="a running broker (KAFKA_BOOTSTRAP was given)"
if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  # What a fresh machine sees: an empty cache folder, so the jars are resolved by Maven while
  # kafka.sh runs. Its stdout must still be the address line alone.
  fresh_cache=$(mktemp -d)
  fresh_run=$(mktemp -d)
  trap 'YUQING_KAFKA_DIR="$fresh_run" scripts/kafka.sh stop; scripts/kafka.sh stop; rm -rf "$fresh_cache" "$fresh_run"' EXIT
  fresh_addr=$(start_broker "${TMPDIR:-/tmp}/yuqing-kafka-fresh.log" YUQING_CACHE="$fresh_cache" \
    YUQING_KAFKA_DIR="$fresh_run" YUQING_KAFKA_PORT=$(( ${YUQING_KAFKA_PORT:-39092} - 10 ))) || exit 1
  echo "kafka.sh with an empty cache folder printed exactly KAFKA_BOOTSTRAP=$fresh_addr"
  YUQING_KAFKA_DIR="$fresh_run" scripts/kafka.sh stop
  kafka_log="${TMPDIR:-/tmp}/yuqing-kafka-start.log"
  KAFKA_BOOTSTRAP=$(start_broker "$kafka_log") || exit 1
  cat "$kafka_log"
  broker=$(grep -oE 'Apache Kafka [0-9.]+|tansu' "$kafka_log" | tail -n 1)
fi
if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  echo "test.sh: no Kafka address; the Kafka tests cannot run" >&2
  exit 1
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
