#!/usr/bin/env bash
# kafka.sh: real Apache Kafka on demand, as plain JVM processes (no Docker).
#
# Fetches a pinned Apache Kafka release's jars from Maven Central (via
# kafka/pom.xml), starts KRaft clusters of N combined broker+controller nodes on
# free loopback ports, stops them, and runs Kafka's own tools.  See --help and
# kafka/README.md.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
KAFKA_VERSION="${KAFKIT_KAFKA_VERSION:-4.1.1}"
CACHE_ROOT="${KAFKIT_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafkit}"
JAVA_BIN="${JAVA_HOME:+$JAVA_HOME/bin/}java"
HOST=127.0.0.1
# Logged by kafka.server.KafkaRaftServer once the broker is unfenced and its
# listeners accept requests (the broker waits for both before logging it).
STARTED_LINE='Kafka Server started'
DEFAULT_PERF_OPTS='-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true'

usage() {
  cat <<EOF
usage: kafka.sh COMMAND [OPTIONS]

Real Apache Kafka ($KAFKA_VERSION; pinned default 4.1.1) as plain JVM processes, for tests.

commands:
  fetch                 fetch the Kafka jars into the cache (once); prints the
                        libs directory as the last line of stdout
  classpath             print the Kafka classpath (fetching if needed)
  start [OPTIONS]       format and start a KRaft cluster in the background;
                        waits until every node serves, then prints
                        bootstrap=HOST:PORT,... and dir=DIR
      --nodes N         number of combined broker+controller nodes (default 1)
      --dir DIR         state/log directory (default: a new temp dir); if DIR
                        holds a cluster that was stopped, it is restarted with
                        the same ports, cluster id and data
      --port P          first broker port (brokers use P..P+N-1; default: free
                        ports); controller ports are always picked free
      --set KEY=VALUE   extra broker config, repeatable (overrides defaults)
      --timeout S       seconds to wait for the nodes (default 120)
      --verify          also check with BrokerApiVersionsCommand that all N
                        brokers answer ApiVersions (one extra JVM, ~1-2 s)
  stop [--dir DIR] [--kill] [--clean]
                        stop the nodes started in DIR (SIGTERM, up to 30 s,
                        then SIGKILL; --kill: SIGKILL at once, like a crash);
                        --clean then deletes DIR
  status [--dir DIR]    show the nodes of DIR and whether they run
  run-class CLASS [ARGS...]
                        run a Java class with the Kafka classpath, e.g.
                          kafka.sh run-class org.apache.kafka.tools.TopicCommand --help
  -h, --help            this help

DIR defaults to \$KAFKIT_KAFKA_DIR for stop/status.

environment:
  KAFKIT_KAFKA_VERSION   Kafka release to fetch (default 4.1.1)
  KAFKIT_KAFKA_LIBS      use this Kafka libs/ dir (e.g. a distribution's) and
                         never fetch
  KAFKIT_KAFKA_CACHE     cache root (default \${XDG_CACHE_HOME:-\$HOME/.cache}/kafkit);
                         jars go to \$KAFKIT_KAFKA_CACHE/kafka-\$KAFKA_VERSION/libs
  KAFKIT_MVN_ARGS        extra arguments for mvn (e.g. -Dmaven.repo.local=...)
  KAFKA_HEAP_OPTS        node heap (default -Xmx512m -Xms256m)
  KAFKA_TOOL_HEAP_OPTS   run-class/format heap (default -Xmx256m)
  KAFKA_JVM_PERFORMANCE_OPTS  GC etc. (default: Kafka's G1 settings)
  KAFKA_LOG4J_OPTS       replaces -Dlog4j2.configurationFile=kafka/log4j2-*.properties
  KAFKA_OPTS             extra JVM options for nodes and tools
  KAFKIT_KAFKA_START_TIMEOUT  default for --timeout (120)
  KAFKIT_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (30)
  JAVA_HOME              java to use (default: java on PATH)
EOF
}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- fetching

LIBS=""

# Sets LIBS to a directory of Kafka jars: $KAFKIT_KAFKA_LIBS, or the cache
# (fetched with Maven when the completion marker is missing).
resolve_libs() {
  if [[ -n ${KAFKIT_KAFKA_LIBS:-} ]]; then
    [[ -d $KAFKIT_KAFKA_LIBS ]] || die "KAFKIT_KAFKA_LIBS=$KAFKIT_KAFKA_LIBS is not a directory"
    compgen -G "$KAFKIT_KAFKA_LIBS/kafka-clients-*.jar" >/dev/null \
      || die "KAFKIT_KAFKA_LIBS=$KAFKIT_KAFKA_LIBS has no kafka-clients-*.jar"
    LIBS="$(cd -- "$KAFKIT_KAFKA_LIBS" && pwd -P)"
    return
  fi
  local dest="$CACHE_ROOT/kafka-$KAFKA_VERSION"
  local marker="$dest/.complete"
  LIBS="$dest/libs"
  [[ -f $marker && -d $LIBS ]] && return
  command -v mvn >/dev/null \
    || die "mvn not found: needed to fetch Kafka $KAFKA_VERSION (or set KAFKIT_KAFKA_LIBS)"
  mkdir -p -- "$dest"
  local lockfd
  if command -v flock >/dev/null; then
    exec {lockfd}>"$dest/.lock"
    flock "$lockfd"   # another fetch of the same version may be under way
    if [[ -f $marker && -d $LIBS ]]; then exec {lockfd}>&-; return; fi
    rm -rf -- "$dest"/libs.tmp.*   # left by an interrupted fetch
  fi
  local tmp
  tmp="$(mktemp -d "$dest/libs.tmp.XXXXXX")"
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven into $LIBS"
  local -a extra=()
  read -r -a extra <<<"${KAFKIT_MVN_ARGS:-}"
  # Maven prints its errors on stdout: send them to stderr, keeping stdout for
  # the libs path, and drop the bare colour codes Maven 3.8 emits under -q.
  if ! mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
      "-Dkafka.version=$KAFKA_VERSION" "-DoutputDirectory=$tmp" \
      ${extra[@]+"${extra[@]}"} dependency:copy-dependencies 2>&1 \
      | sed -e $'s/\e\\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    rm -rf -- "$tmp"
    die "mvn could not fetch Kafka $KAFKA_VERSION (see its errors above)"
  fi
  if [[ ! -f $tmp/kafka_2.13-$KAFKA_VERSION.jar || ! -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]]; then
    rm -rf -- "$tmp"
    die "mvn finished but kafka_2.13/kafka-tools $KAFKA_VERSION jars are missing"
  fi
  rm -f -- "$marker"
  rm -rf -- "$LIBS"
  chmod 755 -- "$tmp"
  mv -- "$tmp" "$LIBS"
  printf 'kafka %s, %s jars\n' "$KAFKA_VERSION" "$(find "$LIBS" -name '*.jar' | wc -l)" >"$marker"
  [[ -n ${lockfd:-} ]] && exec {lockfd}>&-
  return 0
}

# ---------------------------------------------------------------- JVM options

split_into() { # ARRAY-NAME STRING: whitespace-split STRING (no globbing)
  local -n _out=$1
  read -r -a _out <<<"$2"
}

JVM_OPTS=()
jvm_opts() { # server|tools|format: fills JVM_OPTS
  local -a a=()
  JVM_OPTS=()
  if [[ $1 == server ]]; then
    split_into a "${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
  else
    split_into a "${KAFKA_TOOL_HEAP_OPTS:--Xmx256m}"
  fi
  JVM_OPTS+=(${a[@]+"${a[@]}"})
  if [[ $1 == format ]]; then
    # One short JVM per node, all at once: C1 only and serial GC burn less CPU.
    JVM_OPTS+=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true)
  else
    split_into a "${KAFKA_JVM_PERFORMANCE_OPTS:-$DEFAULT_PERF_OPTS}"
    JVM_OPTS+=(${a[@]+"${a[@]}"})
  fi
  if [[ -n ${KAFKA_LOG4J_OPTS:-} ]]; then
    split_into a "$KAFKA_LOG4J_OPTS"
    JVM_OPTS+=(${a[@]+"${a[@]}"})
  elif [[ $1 == server ]]; then
    JVM_OPTS+=("-Dlog4j2.configurationFile=$SCRIPT_DIR/log4j2-server.properties")
  else
    JVM_OPTS+=("-Dlog4j2.configurationFile=$SCRIPT_DIR/log4j2-tools.properties")
  fi
  split_into a "${KAFKA_OPTS:-}"
  JVM_OPTS+=(${a[@]+"${a[@]}"})
}

# ---------------------------------------------------------------- processes

is_alive() { # PID: running and not a zombie
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r /proc/$1/stat ]]; then
    local stat
    stat="$(</proc/"$1"/stat)" || return 1
    stat="${stat##*) }"
    [[ ${stat:0:1} != Z ]]
  fi
}

is_our_node() { # PID DIR: the process is a node started for DIR
  is_alive "$1" || return 1
  if [[ -r /proc/$1/cmdline ]]; then
    tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "-Dkafkit.dir=$2"
  else
    ps -o command= -p "$1" 2>/dev/null | grep -qF -- "-Dkafkit.dir=$2 "
  fi
}

read_pids() { # DIR: prints the pids of DIR/pids that are still our nodes
  local pid
  [[ -f $1/pids ]] || return 0
  while read -r pid; do
    [[ $pid =~ ^[0-9]+$ ]] && is_our_node "$pid" "$1" && printf '%s\n' "$pid"
  done <"$1/pids"
  return 0
}

terminate() { # TIMEOUT PID...: SIGTERM, wait up to TIMEOUT s, then SIGKILL
  local timeout=$1 pid deadline
  shift
  (($#)) || return 0
  local -a left=("$@")
  if ((timeout > 0)); then
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while :; do
      left=()
      for pid in "$@"; do is_alive "$pid" && left+=("$pid"); done
      ((${#left[@]})) || return 0
      ((SECONDS < deadline)) || break
      sleep 0.1
    done
    log "pids ${left[*]} still alive after ${timeout}s: SIGKILL"
  fi
  kill -KILL "${left[@]}" 2>/dev/null || true
  local -a killed=("${left[@]}")
  for _ in $(seq 50); do
    left=()
    for pid in "${killed[@]}"; do is_alive "$pid" && left+=("$pid"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  log "pids ${left[*]} survived SIGKILL"
}

# ---------------------------------------------------------------- ports

have_python() { command -v python3 >/dev/null 2>&1; }

port_is_free() { # PORT: nothing bound to HOST:PORT
  if have_python; then
    python3 - "$HOST" "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
  else
    if tcp_open "$1"; then return 1; fi
  fi
}

free_ports() { # COUNT [EXCLUDED...]: prints COUNT distinct free ports
  local count=$1
  shift
  if have_python; then
    python3 - "$HOST" "$count" "$@" <<'PY'
import socket, sys
host, count, excluded = sys.argv[1], int(sys.argv[2]), set(sys.argv[3:])
held, ports = [], []
while len(ports) < count:
    s = socket.socket()
    s.bind((host, 0))          # the kernel picks a free port; hold it so the
    held.append(s)             # next ones differ
    p = s.getsockname()[1]
    if str(p) not in excluded:
        ports.append(p)
print("\n".join(map(str, ports)))
PY
  else
    local -a got=()
    local p tries=0
    while ((${#got[@]} < count)); do
      ((++tries < 1000)) || die "could not find free ports"
      p=$((20000 + RANDOM % 12000))
      [[ " $* ${got[*]} " == *" $p "* ]] && continue
      port_is_free "$p" && got+=("$p")
    done
    printf '%s\n' "${got[@]}"
  fi
}

elapsed_ms() { # T0 (microseconds, from now_us): milliseconds since T0
  echo $((($(now_us) - $1) / 1000))
}
now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then echo "${EPOCHREALTIME/[.,]/}"; else echo "$(date +%s)000000"; fi
}

tcp_open() { # PORT: something accepts connections on HOST:PORT
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

new_cluster_id() {
  if have_python; then
    python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break'
  else
    jvm_opts tools
    "$JAVA_BIN" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid
  fi
}

# ---------------------------------------------------------------- commands

cmd_fetch() {
  (($# == 0)) || die "fetch takes no arguments"
  resolve_libs
  printf '%s\n' "$LIBS"
}

cmd_classpath() {
  (($# == 0)) || die "classpath takes no arguments"
  resolve_libs
  local -a jars=("$LIBS"/*.jar)
  [[ -e ${jars[0]} ]] || die "no jars in $LIBS"
  local IFS=:
  printf '%s\n' "${jars[*]}"
}

cmd_run_class() {
  (($# >= 1)) || die "run-class needs a class name"
  resolve_libs
  jvm_opts tools
  local cls=$1
  shift
  exec "$JAVA_BIN" "${JVM_OPTS[@]}" -cp "$LIBS/*" "$cls" "$@"
}

write_config() { # NODE-DIR ID NODES BROKER-PORT CONTROLLER-PORT VOTERS SETS...
  local ndir=$1 id=$2 n=$3 bport=$4 cport=$5 voters=$6
  shift 6
  local rf=$((n < 3 ? n : 3))
  {
    echo "# written by kafka/kafka.sh start"
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://$HOST:$bport,CONTROLLER://$HOST:$cport"
    echo "advertised.listeners=PLAINTEXT://$HOST:$bport"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "log.dirs=$ndir/data"
    echo "auto.create.topics.enable=true"
    echo "num.partitions=1"
    echo "default.replication.factor=$rf"
    echo "min.insync.replicas=1"
    echo "offsets.topic.replication.factor=$rf"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=1"
    # Look for transactions past their timeout every second (Kafka's default: 10 s).
    echo "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=1"
    echo "group.initial.rebalance.delay.ms=0"
    echo "group.consumer.min.heartbeat.interval.ms=500"
    echo "group.consumer.heartbeat.interval.ms=500"
    if (($#)); then
      echo "# --set"
      printf '%s\n' "$@"
    fi
  } >"$ndir/server.properties"
}

cmd_start() {
  local nodes="" dir="" port="" verify=0
  local timeout="${KAFKIT_KAFKA_START_TIMEOUT:-120}"
  local -a sets=()
  while (($#)); do
    case $1 in
      --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
      --nodes=*) nodes=${1#*=}; shift ;;
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      --port) port=${2:?--port needs a value}; shift 2 ;;
      --port=*) port=${1#*=}; shift ;;
      --set) sets+=("${2:?--set needs KEY=VALUE}"); shift 2 ;;
      --set=*) sets+=("${1#*=}"); shift ;;
      --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
      --timeout=*) timeout=${1#*=}; shift ;;
      --verify) verify=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die "start: unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -z $nodes || $nodes =~ ^[1-9][0-9]?$ ]] || die "--nodes must be 1..99"
  [[ -z $port || ($port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535) ]] || die "bad --port $port"
  [[ $timeout =~ ^[0-9]+$ ]] || die "bad --timeout $timeout"
  local kv
  for kv in ${sets[@]+"${sets[@]}"}; do
    [[ $kv == ?*=* ]] || die "--set wants KEY=VALUE, got '$kv'"
  done
  local t0
  t0=$(now_us)

  resolve_libs
  if [[ -z $dir ]]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/kafkit-kafka.XXXXXX")"
  else
    mkdir -p -- "$dir"
  fi
  dir="$(cd -- "$dir" && pwd -P)"
  log "dir=$dir"
  if [[ -n $(read_pids "$dir") ]]; then
    die "nodes of $dir are running already (kafka.sh stop --dir $dir)"
  fi

  local i n
  local -a bports=()
  if [[ -f $dir/cluster.id ]]; then
    # A cluster formatted earlier and stopped: start it again as it was.
    n="$(<"$dir/nodes")"
    [[ -z $nodes || $nodes == "$n" ]] || die "$dir holds a $n-node cluster; --nodes $nodes does not fit"
    [[ -z $port ]] || log "--port ignored: restarting $dir with its own ports"
    ((${#sets[@]} == 0)) || log "--set ignored: restarting $dir with its own config"
    for ((i = 1; i <= n; i++)); do bports+=("$(<"$dir/node-$i/port")"); done
    log "restarting the $n-node cluster $(<"$dir/cluster.id") of $dir"
  else
    n=${nodes:-1}
    if compgen -G "$dir/node-*" >/dev/null; then
      die "$dir has node-* dirs but no cluster.id: not a kafka.sh dir, or a broken one"
    fi
    local -a cports=()
    if [[ -n $port ]]; then
      ((port + n - 1 <= 65535)) || die "--port $port: no room for $n ports"
      for ((i = 0; i < n; i++)); do
        port_is_free $((port + i)) || die "port $((port + i)) is in use"
        bports+=($((port + i)))
      done
      mapfile -t cports < <(free_ports "$n" "${bports[@]}")
    else
      local -a all=()
      mapfile -t all < <(free_ports $((2 * n)))
      bports=("${all[@]:0:n}")
      cports=("${all[@]:n:n}")
    fi
    ((${#cports[@]} == n)) || die "could not find free ports"
    local voters="" cid
    for ((i = 1; i <= n; i++)); do
      voters+="${voters:+,}$i@$HOST:${cports[i - 1]}"
    done
    cid="$(new_cluster_id)"
    for ((i = 1; i <= n; i++)); do
      mkdir -p -- "$dir/node-$i/data"
      write_config "$dir/node-$i" "$i" "$n" "${bports[i - 1]}" "${cports[i - 1]}" "$voters" \
        ${sets[@]+"${sets[@]}"}
      printf '%s\n' "${bports[i - 1]}" >"$dir/node-$i/port"
    done
    # Format every node's log dir (in parallel: one JVM each).  With a static
    # controller.quorum.voters, Kafka 4.1 wants no --standalone/--initial-controllers.
    jvm_opts format
    local -a fpids=()
    for ((i = 1; i <= n; i++)); do
      "$JAVA_BIN" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        --cluster-id "$cid" --config "$dir/node-$i/server.properties" \
        >"$dir/node-$i/format.log" 2>&1 </dev/null &
      fpids+=($!)
    done
    local failed=0
    for ((i = 1; i <= n; i++)); do
      if ! wait "${fpids[i - 1]}"; then
        log "format of node $i failed:"
        cat "$dir/node-$i/format.log" >&2
        failed=1
      fi
    done
    ((failed == 0)) || die "format failed (dir $dir)"
    log "formatted $n node(s), cluster id $cid ($(elapsed_ms "$t0") ms)"
    printf '%s\n' "$cid" >"$dir/cluster.id"
    printf '%s\n' "$n" >"$dir/nodes"
  fi

  # Start the nodes, detached (own session) so that they outlive this script.
  jvm_opts server
  local -a pids=() logoff=()
  local ndir
  for ((i = 1; i <= n; i++)); do
    ndir="$dir/node-$i"
    # On a restart server.log already holds a "started" line: only look past it.
    logoff[i]=0
    [[ -f $ndir/server.log ]] && logoff[i]=$(wc -c <"$ndir/server.log")
    setsid "$JAVA_BIN" "${JVM_OPTS[@]}" "-Dkafkit.dir=$dir" "-Dkafkit.node=$i" \
      -cp "$LIBS/*" kafka.Kafka "$ndir/server.properties" \
      >>"$ndir/server.log" 2>&1 </dev/null &
    pids+=($!)
  done
  printf '%s\n' "${pids[@]}" >"$dir/pids"
  trap 'log "interrupted: stopping the nodes"; terminate 10 "${pids[@]}"; exit 130' INT TERM

  local bootstrap=""
  for ((i = 1; i <= n; i++)); do bootstrap+="${bootstrap:+,}$HOST:${bports[i - 1]}"; done

  # Wait until each node has logged that it started and accepts connections.
  local -a ready=()
  local deadline=$(($(now_us) + timeout * 1000000)) all why=""
  while :; do
    all=1
    for ((i = 1; i <= n; i++)); do
      [[ ${ready[i]:-0} == 1 ]] && continue
      ndir="$dir/node-$i"
      if ! is_alive "${pids[i - 1]}"; then
        why="node $i (pid ${pids[i - 1]}) exited"
        break 2
      fi
      # (process substitution, not a pipe: grep -q may SIGPIPE tail, which
      # pipefail would count as a failure)
      if grep -qF "$STARTED_LINE" < <(tail -c +$((logoff[i] + 1)) "$ndir/server.log") \
        && tcp_open "${bports[i - 1]}"; then
        ready[i]=1
        log "node $i serving on $HOST:${bports[i - 1]} (pid ${pids[i - 1]}, $(elapsed_ms "$t0") ms)"
      else
        all=0
      fi
    done
    ((all)) && break
    if (($(now_us) >= deadline)); then
      why="timeout after ${timeout}s"
      break
    fi
    sleep 0.1
  done
  if [[ -z $why ]] && ((verify)); then
    jvm_opts tools
    local out
    if out="$("$JAVA_BIN" "${JVM_OPTS[@]}" -cp "$LIBS/*" \
      org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" 2>&1)" \
      && [[ $(grep -c ' (id: [0-9]* rack: ' <<<"$out") == "$n" ]]; then
      log "verified: $n brokers answer ApiVersions"
    else
      why="ApiVersions check failed: $out"
    fi
  fi
  if [[ -n $why ]]; then
    log "start failed: $why"
    for ((i = 1; i <= n; i++)); do
      [[ ${ready[i]:-0} == 1 ]] && continue
      log "--- tail of $dir/node-$i/server.log"
      tail -n 30 "$dir/node-$i/server.log" >&2 || true
    done
    terminate 10 "${pids[@]}"
    die "Kafka did not start (logs kept in $dir)"
  fi
  trap - INT TERM

  printf '%s\n' "$bootstrap" >"$dir/bootstrap"
  log "$n node(s) serving after $(elapsed_ms "$t0") ms"
  printf 'bootstrap=%s\n' "$bootstrap"
  printf 'dir=%s\n' "$dir"
}

parse_dir_args() { # sets DIR_ARG and CLEAN from --dir/--clean
  DIR_ARG="${KAFKIT_KAFKA_DIR:-}"
  CLEAN=0
  KILL=0
  while (($#)); do
    case $1 in
      --dir) DIR_ARG=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) DIR_ARG=${1#*=}; shift ;;
      --clean) CLEAN=1; shift ;;
      --kill) KILL=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -n $DIR_ARG ]] || die "which cluster? give --dir DIR (or set KAFKIT_KAFKA_DIR)"
  [[ -d $DIR_ARG ]] || die "$DIR_ARG is not a directory"
  DIR_ARG="$(cd -- "$DIR_ARG" && pwd -P)"
}

cmd_stop() {
  parse_dir_args "$@"
  local dir=$DIR_ARG
  local -a pids=()
  mapfile -t pids < <(read_pids "$dir")
  if ((${#pids[@]})); then
    if ((KILL)); then
      log "killing ${#pids[@]} node(s) of $dir: ${pids[*]}"
      terminate 0 "${pids[@]}"
    else
      log "stopping ${#pids[@]} node(s) of $dir: ${pids[*]}"
      terminate "${KAFKIT_KAFKA_STOP_TIMEOUT:-30}" "${pids[@]}"
    fi
  else
    log "no running nodes in $dir"
  fi
  if ((CLEAN)); then
    # Only delete what looks like a directory made by kafka.sh start.
    if [[ -f $dir/cluster.id || -f $dir/pids ]]; then
      rm -rf -- "$dir"
      log "removed $dir"
    else
      die "--clean: $dir does not look like a kafka.sh dir; not removed"
    fi
  fi
}

cmd_status() {
  parse_dir_args "$@"
  ((CLEAN == 0 && KILL == 0)) || die "status takes no --clean/--kill"
  local dir=$DIR_ARG pid i=0 state
  [[ -f $dir/pids ]] || die "$dir has no pids file"
  [[ -f $dir/bootstrap ]] && printf 'bootstrap=%s\n' "$(<"$dir/bootstrap")"
  while read -r pid; do
    i=$((i + 1))
    if is_our_node "$pid" "$dir"; then state=running; else state=stopped; fi
    printf 'node %d pid %s port %s %s\n' "$i" "$pid" "$(cat "$dir/node-$i/port" 2>/dev/null || echo '?')" "$state"
  done <"$dir/pids"
}

main() {
  (($#)) || { usage >&2; exit 2; }
  local cmd=$1
  shift
  case $cmd in
    fetch) cmd_fetch "$@" ;;
    classpath) cmd_classpath "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    run-class) cmd_run_class "$@" ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd' (see --help)" ;;
  esac
}

main "$@"
