# Shared set-up of the verifier benchmarks (sourced, not run): a throwaway
# TLS certificate, cxsec-verifier instances on loopback (optionally with a
# redis-server of their own), the bench project, gateway and an enrolled
# gateway key with N ES256 tokens, and the server CPU time of a process.
# The caller sets `work` (a temp dir), `bin` (bazel-bin) and the array
# `pids` (killed on exit by its cleanup), then:
#   vb_cert
#   vb_start NAME [CONFIG LINES]     -> vb_port[NAME], vb_pid[NAME], vb_admin[NAME]
#   vb_start_redis NAME              -> vb_redis_port[NAME], vb_redis_pid[NAME]
#   vb_enroll NAME TOKENS            -> $work/NAME/tokens (first: a cached one)
#   vb_api NAME METHOD PATH JSON
#   vb_ticks PID                     -> utime + stime in clock ticks
# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034  # work, bin and pids are the caller's; the arrays are read by it
declare -A vb_port vb_pid vb_admin vb_redis_port vb_redis_pid

vb_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
  chmod 600 "$work/key.pem"
}

vb_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# vb_start_redis NAME: a redis-server with AOF and appendfsync always
# (and Redis's defaults otherwise, as docs/SCALE_OUT.md deploys it);
# VB_REDIS_EXTRA adds flags for experiments, e.g. "--rdbcompression no".
vb_start_redis() {
  local name="$1" port
  port=$(vb_free_port)
  mkdir -p "$work/$name/redis"
  # shellcheck disable=SC2086  # VB_REDIS_EXTRA is a list of flags, split on purpose
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/$name/redis" --save '' \
    --appendonly yes --appendfsync always ${VB_REDIS_EXTRA:-} --daemonize no --logfile "$work/$name/redis.log" &
  pids+=($!)
  vb_redis_pid[$name]=$!
  vb_redis_port[$name]=$port
  for _ in $(seq 1 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
}

# vb_start NAME [LINES]: a verifier with its own data dir; extra config
# lines (e.g. "telemetry_sink = redis") as the second argument.
vb_start() {
  local name="$1" extra="${2:-}" port
  port=$(vb_free_port)
  mkdir -p "$work/$name"
  {
    echo "data_dir = $work/$name/data"
    echo "listen = 127.0.0.1:$port"
    echo "tls_cert = $work/cert.pem"
    echo "tls_key = $work/key.pem"
    echo "threads = ${VERIFIER_THREADS:-2}"
    [ -z "$extra" ] || echo "$extra"
  } > "$work/$name/verifier.conf"
  chmod 600 "$work/$name/verifier.conf"
  "$bin/targets/verifier/cxsec-verifier" --config="$work/$name/verifier.conf" \
    > "$work/$name/stdout" 2> "$work/$name/stderr" &
  pids+=($!)
  vb_pid[$name]=$!
  vb_port[$name]=$port
  for _ in $(seq 1 100); do grep -q listening "$work/$name/stderr" 2>/dev/null && break; sleep 0.1; done
  vb_admin[$name]="$(cat "$work/$name/data/bootstrap-admin.key")"
}

vb_api() {
  curl -sk -X "$2" -H "Authorization: Bearer ${vb_admin[$1]}" -H 'Content-Type: application/json' \
    "https://127.0.0.1:${vb_port[$1]}$3" -d "$4" >/dev/null
}

# vb_enroll NAME TOKENS: project "bench", gateway G0123456789abcdef01 with
# an enrolled key (the challenge signed by the new key, as
# docs/VERIFIER_API.md requires) and TOKENS tokens in $work/NAME/tokens.
vb_enroll() {
  local name="$1" count="$2" url nonce
  url="https://127.0.0.1:${vb_port[$name]}"
  vb_api "$name" POST /v1/projects '{"id":"bench"}'
  vb_api "$name" POST /v1/gateways '{"id":"G0123456789abcdef01","project":"bench"}'
  nonce=$(curl -sk -X POST -H "Authorization: Bearer ${vb_admin[$name]}" -H 'Content-Type: application/json' \
    "$url/v1/gateways/G0123456789abcdef01/enrollment-challenge" -d '{}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
  "$bin/targets/verifier/bench_token" "$work/$name/gw.pem" G0123456789abcdef01 bench "$count" "$nonce" \
    > "$work/$name/tokens"
  curl -skf -X POST -H "Authorization: Bearer ${vb_admin[$name]}" -H 'Content-Type: application/json' \
    "$url/v1/gateways/G0123456789abcdef01/keys" --data-binary @"$work/$name/gw.pem.enroll.json" >/dev/null
}

# vb_ticks PID: the CPU clock ticks of PID and of its children it has
# reaped (utime + stime + cutime + cstime), so redis-server's AOF rewrites,
# which run in a forked child, count as its work.
vb_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }

# vb_redis_settle NAME: waits (up to 60 s) until NAME's redis-server has no
# AOF rewrite running, so that the rewrite's CPU is counted (vb_ticks) in
# the turn that caused it and does not load the next one.
vb_redis_settle() {
  for _ in $(seq 1 600); do
    redis-cli -p "${vb_redis_port[$1]}" info persistence | grep -q '^aof_rewrite_in_progress:0' && return 0
    sleep 0.1
  done
}
