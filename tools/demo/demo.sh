#!/usr/bin/env bash
# The whole cxsec system on one machine: swtpm, cxsec-verifier (SQLite),
# a provisioned deployment, the gateway with its TPM key enrolled at the
# verifier, and DTLS + Mioty nodes posting through it. Ends with a report
# and exits non-zero if any message a node had acknowledged (DTLS) or sent
# (Mioty) is missing at the verifier or stored twice.
#
#   tools/demo/demo.sh BAZEL_BIN [--dtls-nodes N] [--mioty-nodes N]
#                      [--posts N] [--work DIR]
#                      [--kill-gateway-at S] [--verifier-down-at S --verifier-down-for S]
#                      [--spool-max-messages N --expect-503]
#                      [--kill-tpm-at S --tpm-down-for S --token-lifetime S]
#                      [--dtls-load BINARY --load-seconds S --dtls-rate R]
#                      [--baseline-seconds S] [--qemu-mioty-nodes N]
#                      [--qemu-dtls-nodes N] [--qemu-via-bootloader]
#                      [--sealed-nodes N [--tamper [--tamper-qemu]] [--seal-epoch-readings N]]
#                      [--qemu-dtls-app NAME]
# --sealed-nodes N: the first N host DTLS and the first N host Mioty nodes
# seal their readings end to end (docs/SEALED_READINGS.md): the verifier
# holds the seal master, those devices are registered with seal =
# required, and the report gives their verdicts and counter state. The
# first N QEMU Mioty and the first N QEMU DTLS nodes seal too: their seal
# key area sector (`cxsec provision --seal-master`, DIR/devices/<id>.sealarea)
# is loaded at 0x003F8000 and its erased ratchet sector (<id>.sealratchet)
# at 0x003F5000 (and, for DTLS, erased sequence sectors at 0x003F6000),
# and they count among the sealed devices in the report.
# --tamper puts a compromised gateway's uplink (tools/demo/tamper_proxy.py)
# between the gateway and the verifier: it mounts each attack on a sealed
# reading once, and the demo fails unless each got its named verdict, the
# dropped reading shows as a gap, and every honest message arrived once.
# With --tamper-qemu it attacks the sealed QEMU firmware nodes instead of
# the host ones (every attack on each radio that has a sealed QEMU node),
# and the report requires the same of them: each verdict, each device's
# counter state at the verifier exactly what its honest readings make it,
# the dropped reading a gap and (on a DTLS node) unreceipted on its
# console and inside its later sealed readings.
# --qemu-dtls-app NAME boots NAME_primary_slot.bin (targets/node/dtls) as
# the QEMU DTLS nodes' application instead of node_dtls's (with
# --qemu-via-bootloader): node_dtls_tamper sends 10 readings 250 ms apart.
# --dtls-load replaces the DTLS cxsec-node processes by tools/bench's
# closed-loop load generator (for tools/bench/e2e.sh); --baseline-seconds
# then posts to the verifier directly with wrk, as the same gateway.
# The fault options (used by tests/e2e) act S seconds into the traffic:
# kill -9 of the gateway and an immediate restart, or the verifier stopped
# for a while and restarted on the same port and data.
# --qemu-mioty-nodes N adds N Mioty nodes that are the real firmware
# (node_mioty.elf) in QEMU: each gets a key area from `cxsec provision
# --mioty-eui`, its UART0 goes through mioty_uart_bridge to the gateway's
# Mioty port, and it sends the readings it was built for (5) at once.
# --qemu-dtls-nodes N adds N DTLS nodes that are the real firmware
# (node_dtls.elf, Mbed TLS's DTLS client) in QEMU: each gets a version 2
# key area from `cxsec provision --dtls-key-area` (the deployment's PSK),
# its UART0 goes through udp_uart_bridge to the gateway's DTLS port, and it
# posts the readings it was built for (5) as CoAP CON over DTLS at once.
# --qemu-via-bootloader boots each QEMU node as a real node starts: QEMU
# runs bootloader.elf, which verifies the signed application in its
# primary slot (node_mioty_primary_slot.bin / node_dtls_primary_slot.bin,
# signed by `cxsec fw sign` in the Bazel build) and only then jumps to it;
# the boot state sector starts erased (factory-fresh node).
# Every process it starts is killed on exit (trap).
set -euo pipefail
bin="$1"; shift
dtls_nodes=50 mioty_nodes=50 posts=45 work=""
kill_gateway_at=-1 verifier_down_at=-1 verifier_down_for=30
spool_max_messages=1000000 expect_503=0 kill_tpm_at=-1 tpm_down_for=10 token_lifetime=3600
dtls_load="" load_seconds=10 dtls_rate=10 baseline_seconds=0 firmware=1
qemu_mioty_nodes=0 qemu_dtls_nodes=0 qemu_via_bootloader=0
sealed_nodes=0 tamper=0 tamper_qemu=0 seal_epoch_readings=0 qemu_dtls_app=node_dtls
while [ $# -gt 0 ]; do
  case "$1" in
    --dtls-nodes) dtls_nodes="$2"; shift 2 ;;
    --mioty-nodes) mioty_nodes="$2"; shift 2 ;;
    --posts) posts="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --kill-gateway-at) kill_gateway_at="$2"; shift 2 ;;
    --verifier-down-at) verifier_down_at="$2"; shift 2 ;;
    --verifier-down-for) verifier_down_for="$2"; shift 2 ;;
    --spool-max-messages) spool_max_messages="$2"; shift 2 ;;
    --expect-503) expect_503=1; shift ;;
    --kill-tpm-at) kill_tpm_at="$2"; shift 2 ;;
    --tpm-down-for) tpm_down_for="$2"; shift 2 ;;
    --token-lifetime) token_lifetime="$2"; shift 2 ;;
    --dtls-load) dtls_load="$2"; shift 2 ;;
    --load-seconds) load_seconds="$2"; shift 2 ;;
    --dtls-rate) dtls_rate="$2"; shift 2 ;;
    --baseline-seconds) baseline_seconds="$2"; shift 2 ;;
    --no-firmware) firmware=0; shift ;;
    --qemu-mioty-nodes) qemu_mioty_nodes="$2"; shift 2 ;;
    --qemu-dtls-nodes) qemu_dtls_nodes="$2"; shift 2 ;;
    --qemu-via-bootloader) qemu_via_bootloader=1; shift ;;
    --sealed-nodes) sealed_nodes="$2"; shift 2 ;;
    --tamper) tamper=1; shift ;;
    --tamper-qemu) tamper_qemu=1; shift ;;
    --qemu-dtls-app) qemu_dtls_app="$2"; shift 2 ;;
    --seal-epoch-readings) seal_epoch_readings="$2"; shift 2 ;;
    *) echo "demo: unknown flag $1" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/../.." && pwd)"
[ -n "$work" ] || work="$(mktemp -d)"
mkdir -p "$work" && chmod 0700 "$work"
cxsec="$bin/tools/cxsec"
pids=()
qemu_sockets=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$qemu_sockets" ] || rm -rf "$qemu_sockets"
}
trap cleanup EXIT
say() { echo "[demo $(date +%T)] $*"; }
free_port() {  # a free loopback port (TCP and UDP), retried: another
  # process may hold the UDP port of a free TCP one
  python3 -c 'import socket
for _ in range(100):
  s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close()
  u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
  try: u.bind(("127.0.0.1",p))
  except OSError: continue
  finally: u.close()
  print(p); break'
}
free_port_pair() {  # two consecutive free TCP ports (swtpm: server, ctrl)
  python3 -c 'import socket,random
for _ in range(200):
  p=random.randint(20000,60000); ok=True
  for q in (p,p+1):
    s=socket.socket()
    try: s.bind(("127.0.0.1",q))
    except OSError: ok=False
    s.close()
  if ok: print(p); break'
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: bounded readiness
  local limit="$1" what="$2"; shift 2
  for _ in $(seq 1 $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo: timed out waiting for $what" >&2; return 1
}

# 1. swtpm and the gateway's TPM key.
tpm_port=$(free_port_pair)
mkdir -p "$work/tpm"
start_swtpm() {
  swtpm socket --tpm2 --tpmstate dir="$work/tpm" \
    --server type=tcp,port=$tpm_port,bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((tpm_port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear >>"$work/swtpm.log" 2>&1 &
  swtpm_pid=$!
  pids+=($swtpm_pid)
}
start_swtpm
tcti="swtpm:host=127.0.0.1,port=$tpm_port"
# The key's authorization value goes to a root-only file that the gateway
# reads before it drops privileges; without it no local account can sign.
tpm_auth="$work/tpm-key.auth"
wait_for 10 swtpm "$cxsec" tpm enroll --tcti "$tcti" --auth-file "$tpm_auth"
"$cxsec" tpm pubkey --tcti "$tcti" | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' >"$work/gateway.pub.pem"
say "swtpm on port $tpm_port, gateway key enrolled in the TPM"

# 2. PKI for the verifier, and the verifier.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=demo-ca -keyout "$work/ca.key" -out "$work/ca.pem" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/verifier-key.pem" -out "$work/verifier.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/verifier.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -extfile "$work/ext.cnf" -out "$work/verifier-cert.pem" >/dev/null 2>&1
chmod 0600 "$work/verifier-key.pem"
verifier_port=$(free_port)
mkdir -p "$work/verifier" && chmod 0700 "$work/verifier"
cat >"$work/verifier.conf" <<CONF
data_dir = $work/verifier
listen = 127.0.0.1:$verifier_port
registry = sqlite
tls_cert = $work/verifier-cert.pem
tls_key = $work/verifier-key.pem
CONF
if [ "$sealed_nodes" -gt 0 ]; then
  # The sealed-readings master lives on the verifier side only.
  "$cxsec" provision --out "$work/seal" --seal-new-master >/dev/null
  echo "seal_master_file = $work/seal/seal-master.key" >>"$work/verifier.conf"
fi
chmod 0600 "$work/verifier.conf"
start_verifier() {
  "$bin/targets/verifier/cxsec-verifier" --config="$work/verifier.conf" \
    >>"$work/verifier.out" 2>>"$work/verifier.err" &
  verifier_pid=$!
  pids+=($verifier_pid)
}
start_verifier
api="https://127.0.0.1:$verifier_port"
wait_for 20 verifier curl -sf --cacert "$work/ca.pem" "$api/healthz"
admin_key=$(cat "$work/verifier/bootstrap-admin.key")
say "verifier on port $verifier_port (SQLite registry), bootstrap admin key read once"
call() {  # call METHOD PATH JSON
  curl -sf --cacert "$work/ca.pem" -X "$1" -H "Authorization: Bearer $admin_key" \
    -H 'Content-Type: application/json' --data "$3" "$api$2" >/dev/null ||
    { echo "demo: $1 $2 failed" >&2; return 1; }
}

# 3. Deployment: 6LoWPAN keys, Mioty keys, registry entries.
gateway_id=G$(openssl rand -hex 9)
call POST /v1/projects '{"id":"demo","name":"cxsec demo"}'
call POST /v1/gateways "{\"id\":\"$gateway_id\",\"project\":\"demo\",\"enabled\":true}"
# Key enrolment proves possession: the verifier's one-time challenge is
# signed inside the TPM by the key being enrolled (docs/VERIFIER_API.md).
nonce=$(curl -sf --cacert "$work/ca.pem" -X POST -H "Authorization: Bearer $admin_key" \
  -H 'Content-Type: application/json' --data '{}' \
  "$api/v1/gateways/$gateway_id/enrollment-challenge" | jq -r .nonce) ||
  { echo "demo: enrollment-challenge failed" >&2; exit 1; }
proof=$("$cxsec" jwt enroll-proof --tpm "$tcti" --tpm-auth-file "$tpm_auth" --gateway "$gateway_id" --challenge "$nonce")
call POST "/v1/gateways/$gateway_id/keys" \
  "$(jq -n --rawfile pem "$work/gateway.pub.pem" --arg proof "$proof" \
    '{publicKeyPem:$pem,expiresAt:null,proof:$proof}')"
dtls_ids=() mioty_ids=()
for _ in $(seq 1 "$dtls_nodes"); do dtls_ids+=(D$(openssl rand -hex 8 | tr a-f A-F)); done
for _ in $(seq 1 "$mioty_nodes"); do mioty_ids+=($(openssl rand -hex 8)); done
mkdir -p "$work/nodes"
if [ "$dtls_nodes" -gt 0 ]; then
  "$cxsec" provision --out "$work/deploy" --devices "$(IFS=,; echo "${dtls_ids[*]}")" >/dev/null
elif [ "$qemu_dtls_nodes" -gt 0 ]; then
  "$cxsec" provision --out "$work/deploy" >/dev/null
fi
# QEMU DTLS nodes: key areas (version 2: PSK, epoch, DRBG seed) for the
# same deployment as the host DTLS nodes.
qemu_dtls_ids=()
for _ in $(seq 1 "$qemu_dtls_nodes"); do
  id=D$(openssl rand -hex 8 | tr a-f A-F)
  qemu_dtls_ids+=("$id")
  "$cxsec" provision --security "$work/deploy/security.txt" --out "$work/qemu-dtls/$id" \
    --devices "$id" --dtls-key-area >/dev/null
done

for eui in "${mioty_ids[@]}"; do
  key=$(openssl rand -hex 16)
  (umask 077; echo "$key" >"$work/nodes/$eui.mkey")
  "$cxsec" mioty keys add --keys "$work/mioty.keys" --eui "$eui" --key "$key" >/dev/null
done
# One Mioty device the gateway knows but the cloud does not: its messages
# pass the gateway and are rejected at the verifier (unknown_device).
rogue_ids=() rogue_posts=0
if [ "$mioty_nodes" -gt 0 ]; then
  rogue_ids=($(openssl rand -hex 8)) rogue_posts=$posts
  rogue_key=$(openssl rand -hex 16)
  (umask 077; echo "$rogue_key" >"$work/nodes/${rogue_ids[0]}.mkey")
  "$cxsec" mioty keys add --keys "$work/mioty.keys" --eui "${rogue_ids[0]}" --key "$rogue_key" >/dev/null
fi
# QEMU Mioty nodes: the key area their firmware reads, and the same key in
# the gateway's store (provision's CSV).
qemu_ids=()
for _ in $(seq 1 "$qemu_mioty_nodes"); do
  eui=$(openssl rand -hex 8)
  qemu_ids+=("$eui")
  "$cxsec" provision --out "$work/qemu/$eui" --devices "D${eui^^}" --mioty-eui "$eui" >/dev/null
  "$cxsec" mioty keys import --keys "$work/mioty.keys" \
    "$work/qemu/$eui/devices/D${eui^^}.mioty.csv" >/dev/null
done
if [ "$((qemu_mioty_nodes + qemu_dtls_nodes))" -gt 0 ]; then
  # Factory-fresh flash for the frame and boot counters (QEMU's storage
  # reads 0).
  mkdir -p "$work/qemu"
  head -c 8192 /dev/zero | tr '\000' '\377' >"$work/qemu/erased_counter.bin"
  head -c 4096 /dev/zero | tr '\000' '\377' >"$work/qemu/erased_boot_state.bin"
  # Unix socket paths are short (108 bytes); test temp dirs are not.
  qemu_sockets=$(mktemp -d /tmp/cxsec-qemu.XXXXXX)
fi
# Every device is registered as D + 16 upper-case hex digits, whatever its
# radio: a Mioty device's id is D + its EUI-64 (the key store's default) or
# the id given to `cxsec provision --devices` (written into its CSV).
mioty_device_ids=()
for eui in "${mioty_ids[@]}" "${qemu_ids[@]}"; do mioty_device_ids+=("D${eui^^}"); done
# Sealed nodes: the first N host DTLS and Mioty nodes, registered with
# seal = required, each with its seal key file (provisioned from the
# verifier's master; never given to the gateway).
# sealed_spec: the devices the tamper proxy attacks (DEVICE:TRANSPORT,...),
# the host nodes, or with --tamper-qemu the QEMU nodes; the others' every
# reading still has to arrive untouched.
sealed_ids=() sealed_spec="" qemu_spec=""
for id in "${dtls_ids[@]:0:$sealed_nodes}"; do sealed_ids+=("$id"); sealed_spec+="$id:dtls,"; done
for eui in "${mioty_ids[@]:0:$sealed_nodes}"; do sealed_ids+=("D${eui^^}"); sealed_spec+="D${eui^^}:mioty,"; done
for eui in "${qemu_ids[@]:0:$sealed_nodes}"; do sealed_ids+=("D${eui^^}"); qemu_spec+="D${eui^^}:mioty,"; done
for id in "${qemu_dtls_ids[@]:0:$sealed_nodes}"; do sealed_ids+=("$id"); qemu_spec+="$id:dtls,"; done
[ "$tamper_qemu" -eq 0 ] || sealed_spec="$qemu_spec"
if [ "$tamper" -eq 1 ] && [ -z "$sealed_spec" ]; then
  echo "demo: --tamper needs sealed nodes to attack (--sealed-nodes; with --tamper-qemu, QEMU ones)" >&2; exit 2
fi
# attacked DEVICE: whether the tamper proxy attacks that device.
attacked() { [ "$tamper" -eq 1 ] && case ",$sealed_spec" in *",$1:"*) true ;; *) false ;; esac; }
if [ "${#sealed_ids[@]}" -gt 0 ]; then
  "$cxsec" provision --out "$work/seal" --devices "$(IFS=,; echo "${sealed_ids[*]}")" \
    --seal-master "$work/seal/seal-master.key" >/dev/null
fi
seal_policy() {
  local id
  for id in "${sealed_ids[@]}"; do [ "$id" = "$1" ] && { echo required; return; }; done
  echo off
}
for id in "${dtls_ids[@]}" "${mioty_device_ids[@]}" "${qemu_dtls_ids[@]}"; do
  call POST /v1/devices "{\"id\":\"$id\",\"project\":\"demo\",\"gateways\":[\"$gateway_id\"],\"seal\":\"$(seal_policy "$id")\"}"
done
say "provisioned $dtls_nodes DTLS, $mioty_nodes Mioty, $qemu_mioty_nodes QEMU Mioty and $qemu_dtls_nodes QEMU DTLS devices, registered at the verifier"

# 4. The gateway.
dtls_port=$(free_port) mioty_port=$(free_port)
mkdir -p "$work/spool" && chmod 0700 "$work/spool"
uplink_url="$api"
# A random marker in every sealed DTLS node's reading: sealed in encrypted
# mode, it must not be visible anywhere between the node and the
# verifier's output.
marker="cxsec-marker-$(openssl rand -hex 8)"
if [ "$tamper" -eq 1 ]; then
  # A compromised gateway's uplink: a TLS proxy the gateway trusts (it has
  # a certificate of the gateway's CA) that alters, injects and drops.
  tamper_port=$(free_port)
  # Host Mioty nodes keep one key epoch through the run unless
  # --seal-epoch-readings says otherwise, so a run of dropped frames is a
  # gap at the verifier; the QEMU Mioty nodes change epoch every 2 frames
  # and are not dropped (docs/SEALED_READINGS.md, "The adversarial tests").
  drop_mioty=()
  if [ "$tamper_qemu" -eq 0 ] && [ "$seal_epoch_readings" -eq 0 ]; then drop_mioty=(--drop-mioty); fi
  python3 "$repo/tools/demo/tamper_proxy.py" --port "$tamper_port" \
    --cert "$work/verifier-cert.pem" --key "$work/verifier-key.pem" \
    --upstream-port "$verifier_port" --ca "$work/ca.pem" \
    --sealed "$sealed_spec" --log "$work/tamper.log" --marker "$marker" \
    "${drop_mioty[@]}" >"$work/tamper.out" 2>"$work/tamper.err" &
  pids+=($!)
  wait_for 10 "the tamper proxy" grep -q ready "$work/tamper.out"
  uplink_url="https://127.0.0.1:$tamper_port"
  say "tamper proxy on port $tamper_port between the gateway and the verifier"
fi
# Started as root, the gateway drops to `nobody` after opening what needs
# root (config, CA bundle, TPM, security.txt, Mioty keys: all 0600 root
# files here); only the spool is nobody's. The work dir stays unlistable.
run_as=""
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  run_as=nobody
  chmod 0711 "$work"
  chown nobody "$work/spool"
  if ! runuser -u nobody -- test -w "$work/spool" 2>/dev/null; then
    say "nobody cannot reach $work (a parent directory is closed): the gateway keeps root"
    run_as="" && chown root "$work/spool" && chmod 0700 "$work"
  fi
fi
{
  echo "gateway_id = $gateway_id"
  echo "project_id = demo"
  echo "identity = tpm"
  echo "tpm_tcti = $tcti"
  echo "tpm_auth_file = $tpm_auth"
  echo "cloud_url = $uplink_url"
  echo "ca_bundle = $work/ca.pem"
  echo "spool_dir = $work/spool"
  echo "spool_max_messages = $spool_max_messages"
  if [ -n "$run_as" ]; then echo "run_as_user = $run_as"; else echo "run_as_root = true"; fi
  echo "token_lifetime_seconds = $token_lifetime"
  if [ "$((dtls_nodes + qemu_dtls_nodes))" -gt 0 ]; then
    echo "security_file = $work/deploy/security.txt"
    echo "dtls_listen = 127.0.0.1:$dtls_port"
    echo "dtls_rate = $dtls_rate"
    echo "dtls_burst = $((dtls_rate * 2))"
    echo "dtls_priority_file = $repo/transports/dtls/gnutls_psk_ccm8.conf"
  fi
  if [ "$((mioty_nodes + qemu_mioty_nodes))" -gt 0 ]; then
    echo "mioty_keys = $work/mioty.keys"
    echo "mioty_listen = 127.0.0.1:$mioty_port"
  fi
  # Extra gateway settings for experiments (benchmarks), one per line.
  [ -z "${DEMO_GATEWAY_CONF_EXTRA:-}" ] || printf '%s\n' "$DEMO_GATEWAY_CONF_EXTRA"
} >"$work/gateway.conf"
chmod 0600 "$work/gateway.conf"
"$bin/targets/gateway/cxsec-gateway" --config="$work/gateway.conf" --check-config
start_gateway() {
  : >"$work/gateway.out"
  "$bin/targets/gateway/cxsec-gateway" --config="$work/gateway.conf" \
    >"$work/gateway.out" 2>>"$work/gateway.err" &
  gateway_pid=$!
  pids+=($gateway_pid)
  if ! wait_for 60 gateway grep -q ready "$work/gateway.out"; then
    # Say why, so a failure in CI can be read from its log alone.
    if kill -0 "$gateway_pid" 2>/dev/null; then
      echo "demo: the gateway (pid $gateway_pid) is running but not ready; its stack:" >&2
      gdb -p "$gateway_pid" -batch -ex "thread apply all bt 12" 2>/dev/null | grep -E '^(#|Thread)' | head -60 >&2 || true
    else
      echo "demo: the gateway exited before it was ready" >&2
    fi
    echo "demo: gateway stdout: $(cat "$work/gateway.out")" >&2
    echo "demo: last lines of the gateway's stderr:" >&2
    tail -n 30 "$work/gateway.err" >&2
    return 1
  fi
  say "$(cat "$work/gateway.out") (runs as $(ps -o user= -p "$gateway_pid"))"
}
start_gateway

# 5. Nodes: each posts `posts` readings, one a second.
node_pids=()
load_start=$(date +%s.%N)
# CPU ticks (user + system) of a process, for the load's per-stage report.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
if [ -n "$dtls_load" ]; then
  gateway_ticks0=$(cpu_ticks "$gateway_pid") verifier_ticks0=$(cpu_ticks "$verifier_pid")
  keys=$(for id in "${dtls_ids[@]}"; do printf '%s,' "$work/deploy/devices/$id.key"; done)
  "$dtls_load" --gateway "127.0.0.1:$dtls_port" --keys "$keys" --seconds "$load_seconds" \
    >"$work/load.out" 2>"$work/load.err" &
  node_pids+=($!)
  dtls_ids_for_nodes=()
else
  dtls_ids_for_nodes=("${dtls_ids[@]}")
fi
for id in "${dtls_ids_for_nodes[@]}"; do
  printf 'device_id = %s\ntransport = dtls\ngateway = 127.0.0.1:%s\nkey_file = %s\ninterval_seconds = 1\npost_count = %s\n' \
    "$id" "$dtls_port" "$work/deploy/devices/$id.key" "$posts" >"$work/nodes/$id.conf"
  if [ "$(seal_policy "$id")" = required ]; then
    printf 'seal_key_file = %s\nseal_sequence_file = %s\nreading_marker = %s\nseal_epoch_readings = %s\n' \
      "$work/seal/devices/$id.seal" "$work/nodes/$id.seq" "$marker" "$seal_epoch_readings" >>"$work/nodes/$id.conf"
  fi
  chmod 0600 "$work/nodes/$id.conf"
  "$bin/targets/node/cxsec-node" --config="$work/nodes/$id.conf" 2>"$work/nodes/$id.err" &
  node_pids+=($!)
done
for eui in "${mioty_ids[@]}" "${rogue_ids[@]}"; do
  printf 'device_id = D%s\ntransport = mioty\ngateway = 127.0.0.1:%s\nmioty_eui = %s\nmioty_key_file = %s\nmioty_counter_file = %s\ninterval_seconds = 1\npost_count = %s\n' \
    "${eui^^}" "$mioty_port" "$eui" "$work/nodes/$eui.mkey" "$work/nodes/$eui.counter" "$posts" >"$work/nodes/$eui.conf"
  if [ "$(seal_policy "D${eui^^}")" = required ]; then
    printf 'seal_key_file = %s\nseal_epoch_readings = %s\n' \
      "$work/seal/devices/D${eui^^}.seal" "$seal_epoch_readings" >>"$work/nodes/$eui.conf"
  fi
  chmod 0600 "$work/nodes/$eui.conf"
  "$bin/targets/node/cxsec-node" --config="$work/nodes/$eui.conf" >"$work/nodes/$eui.out" 2>"$work/nodes/$eui.err" &
  node_pids+=($!)
done
# set_qemu_boot APP: what QEMU boots for node firmware APP (node_mioty
# or node_dtls), into the array qemu_boot: the bare ELF, or the bootloader
# with the signed app in its primary slot and a factory-fresh boot state
# sector (targets/node/bootloader/flash_layout.h).
set_qemu_boot() {
  local app="$1" dir
  case "$app" in node_mioty) dir=mioty ;; *) dir=dtls ;; esac
  if [ "$qemu_via_bootloader" -eq 1 ]; then
    local slot="$app"
    [ "$app" = node_mioty ] || slot="$qemu_dtls_app"
    qemu_boot=(-kernel "$bin/targets/node/bootloader/bootloader.elf"
      -device "loader,file=$bin/targets/node/$dir/${slot}_primary_slot.bin,addr=0x00300000"
      -device "loader,file=$work/qemu/erased_boot_state.bin,addr=0x003FF000")
  else
    qemu_boot=(-kernel "$bin/targets/node/$dir/$app.elf")
  fi
}
# qemu_seal_loads ID: the extra loader devices of a sealed QEMU node, into
# the array qemu_seal: its seal key area's two sectors as provision wrote
# them, and for DTLS (which keeps its own sealed-readings sequence) erased
# sequence sectors.
qemu_seal_loads() {
  qemu_seal=()
  [ "$(seal_policy "$1")" = required ] || return 0
  qemu_seal=(-device "loader,file=$work/seal/devices/$1.sealarea,addr=0x003F8000"
    -device "loader,file=$work/seal/devices/$1.sealratchet,addr=0x003F5000")
  [ "$2" = dtls ] && qemu_seal+=(-device "loader,file=$work/qemu/erased_counter.bin,addr=0x003F6000")
  return 0
}
set_qemu_boot node_mioty
for eui in "${qemu_ids[@]}"; do
  qemu_seal_loads "D${eui^^}" mioty
  sock="$qemu_sockets/$eui.sock"
  "$bin/targets/node/mioty/mioty_uart_bridge" --uart-socket "$sock" \
    --gateway "127.0.0.1:$mioty_port" >"$work/qemu/$eui/bridge.out" 2>"$work/qemu/$eui/bridge.err" &
  node_pids+=($!)
  wait_for 10 "the UART bridge of $eui" test -S "$sock"
  qemu-system-arm -M mps2-an385 -nographic -monitor none \
    -semihosting-config enable=on,target=native \
    "${qemu_boot[@]}" \
    -device "loader,file=$work/qemu/$eui/devices/D${eui^^}.keyarea,addr=0x003FE000" \
    -device "loader,file=$work/qemu/erased_counter.bin,addr=0x003FC000" \
    ${qemu_seal[@]+"${qemu_seal[@]}"} \
    -chardev "socket,id=uart,path=$sock" -serial chardev:uart \
    </dev/null >"$work/qemu/$eui/qemu.out" 2>"$work/qemu/$eui/console.txt" &
  node_pids+=($!)
done
set_qemu_boot node_dtls
for id in "${qemu_dtls_ids[@]}"; do
  qemu_seal_loads "$id" dtls
  sock="$qemu_sockets/$id.sock"
  "$bin/targets/node/dtls/udp_uart_bridge" --uart-socket "$sock" \
    --gateway "127.0.0.1:$dtls_port" >"$work/qemu-dtls/$id/bridge.out" 2>"$work/qemu-dtls/$id/bridge.err" &
  node_pids+=($!)
  wait_for 10 "the UART bridge of $id" test -S "$sock"
  qemu-system-arm -M mps2-an385 -nographic -monitor none \
    -semihosting-config enable=on,target=native \
    "${qemu_boot[@]}" \
    -device "loader,file=$work/qemu-dtls/$id/devices/$id.keyarea,addr=0x003FE000" \
    -device "loader,file=$work/qemu/erased_counter.bin,addr=0x003FA000" \
    ${qemu_seal[@]+"${qemu_seal[@]}"} \
    -chardev "socket,id=uart,path=$sock" -serial chardev:uart \
    </dev/null >"$work/qemu-dtls/$id/qemu.out" 2>"$work/qemu-dtls/$id/console.txt" &
  node_pids+=($!)
done
pids+=("${node_pids[@]}")
say "started $((dtls_nodes + mioty_nodes)) nodes + $((qemu_mioty_nodes + qemu_dtls_nodes)) in QEMU (+${#rogue_ids[@]} unregistered), $posts posts each"
log="$work/verifier/telemetry.ndjson"
count_log() { [ -f "$log" ] && wc -l <"$log" || echo 0; }
running() { local r=0; for p in "${node_pids[@]}"; do kill -0 "$p" 2>/dev/null && r=$((r + 1)); done; echo $r; }
started_at=$SECONDS verifier_back_at=-1 tpm_back_at=-1
for _ in $(seq 1 $((posts * 10 + 120))); do
  r=$(running)
  say "nodes running: $r, verified at the cloud: $(count_log)"
  [ "$r" -eq 0 ] && break
  elapsed=$((SECONDS - started_at))
  if [ "$kill_gateway_at" -ge 0 ] && [ "$elapsed" -ge "$kill_gateway_at" ]; then
    kill_gateway_at=-1
    say "FAULT: kill -9 of the gateway (pid $gateway_pid) under traffic; restarting it"
    kill -9 "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
    start_gateway
  fi
  if [ "$verifier_down_at" -ge 0 ] && [ "$elapsed" -ge "$verifier_down_at" ]; then
    verifier_down_at=-1
    say "FAULT: verifier stopped for ${verifier_down_for}s under traffic"
    kill -9 "$verifier_pid"; wait "$verifier_pid" 2>/dev/null || true
    verifier_back_at=$((elapsed + verifier_down_for))
  fi
  if [ "$kill_tpm_at" -ge 0 ] && [ "$elapsed" -ge "$kill_tpm_at" ]; then
    kill_tpm_at=-1
    say "FAULT: swtpm killed for ${tpm_down_for}s under traffic"
    kill -9 "$swtpm_pid"; wait "$swtpm_pid" 2>/dev/null || true
    tpm_faulted=1
    tpm_back_at=$((elapsed + tpm_down_for))
  fi
  if [ "$tpm_back_at" -ge 0 ] && [ "$elapsed" -ge "$tpm_back_at" ]; then
    tpm_back_at=-1
    start_swtpm
    say "swtpm is back"
  fi
  if [ "$verifier_back_at" -ge 0 ] && [ "$elapsed" -ge "$verifier_back_at" ]; then
    verifier_back_at=-1
    start_verifier
    wait_for 20 verifier curl -sf --cacert "$work/ca.pem" "$api/healthz"
    say "verifier is back"
  fi
  sleep 1
done
if [ "$tpm_back_at" -ge 0 ]; then  # nodes finished while it was down
  sleep $((tpm_back_at - (SECONDS - started_at) > 0 ? tpm_back_at - (SECONDS - started_at) : 0))
  start_swtpm
  say "swtpm is back"
fi
if [ "$verifier_back_at" -ge 0 ]; then  # nodes finished while it was down
  sleep $((verifier_back_at - (SECONDS - started_at) > 0 ? verifier_back_at - (SECONDS - started_at) : 0))
  start_verifier
  wait_for 20 verifier curl -sf --cacert "$work/ca.pem" "$api/healthz"
  say "verifier is back"
fi
node_errors=0
for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || node_errors=$((node_errors + 1)); done
# A DTLS node whose reading got no 2.04 exits non-zero ("N of M readings
# not delivered"); its failed posts are counted below ('post failed') and
# judged there (expected with --expect-503), so they are not node errors.
undelivered=$({ grep -l 'readings not delivered' "$work"/nodes/*.err 2>/dev/null || true; } | wc -l)
node_errors=$((node_errors - undelivered))

# 6. Firmware: a signed update boots, a tampered one is refused.
firmware_report="skipped (--no-firmware)"
if [ "$firmware" -eq 1 ]; then
fw="$work/firmware"
mkdir -p "$fw/flash" && chmod 0700 "$fw"
"$cxsec" fw keygen -t ecdsa-p256 -k "$fw/vendor.pem" >/dev/null
"$cxsec" fw getpub -k "$fw/vendor.pem" >"$fw/vendor.pub.pem"
head -c 4096 /dev/urandom >"$fw/app-1.bin"
head -c 4096 /dev/urandom >"$fw/app-2.bin"
"$cxsec" fw sign -k "$fw/vendor.pem" -v 1.0.0+1 -H 0x200 -s 1 "$fw/app-1.bin" "$fw/app-1.signed" >/dev/null
"$cxsec" fw sign -k "$fw/vendor.pem" -v 1.1.0+2 -H 0x200 -s 2 "$fw/app-2.bin" "$fw/app-2.signed" >/dev/null
"$cxsec" boot provision --dir "$fw/flash" "$fw/app-1.signed" >/dev/null
"$cxsec" boot run --dir "$fw/flash" --key "$fw/vendor.pub.pem" >/dev/null
"$cxsec" boot upgrade --dir "$fw/flash" "$fw/app-2.signed" >/dev/null
signed_boot=$("$cxsec" boot run --dir "$fw/flash" --key "$fw/vendor.pub.pem") ||
  { echo "demo: the signed update did not boot: $signed_boot" >&2; exit 1; }
say "signed update: $signed_boot"
# Tampered: one body byte of a newer signed image flipped after signing.
head -c 4096 /dev/urandom >"$fw/app-3.bin"
"$cxsec" fw sign -k "$fw/vendor.pem" -v 1.2.0+3 -H 0x200 -s 3 "$fw/app-3.bin" "$fw/app-3.signed" >/dev/null
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[0x200+100]^=1; open(sys.argv[2],"wb").write(b)' \
  "$fw/app-3.signed" "$fw/app-3.tampered"
"$cxsec" boot upgrade --dir "$fw/flash" "$fw/app-3.tampered" >/dev/null
tampered_rc=0
tampered_boot=$("$cxsec" boot run --dir "$fw/flash" --key "$fw/vendor.pub.pem") || tampered_rc=$?
say "tampered update: $(echo "$tampered_boot" | tr '\n' ' ')"
if [ "$tampered_rc" -ne 3 ] || ! echo "$tampered_boot" | grep -q 'booted version 1.1.0+2'; then
  echo "demo: the tampered update was not refused (rc $tampered_rc)" >&2; exit 1
fi
firmware_report="signed 1.1.0+2 booted; tampered 1.2.0+3 $(echo "$tampered_boot" | grep REJECTED)"
fi

# 7. Sent = posts that nodes completed (a DTLS post that failed, e.g. a
#    5.03 from a full spool, was not acknowledged and is counted apart).
failed=$(cat "$work"/nodes/*.err 2>/dev/null | grep -c 'post failed' || true)
if [ -n "$dtls_load" ]; then
  load_line=$(cat "$work/load.out")
  load_acked=$(echo "$load_line" | sed -n 's/.*acked=\([0-9]*\).*/\1/p')
  load_failed=$(echo "$load_line" | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
  failed=$((failed + load_failed))
fi
[ "$rogue_posts" -eq 0 ] || wait_for 30 "the unregistered device's rejections" \
  sh -c "curl -sf --cacert '$work/ca.pem' -H 'Authorization: Bearer $admin_key' '$api/metrics' | grep -q 'reason=\"unknown_device\"} $posts\$'" || true
# A QEMU node's readings: the lines its firmware printed as sent.
qemu_sent=0 qemu_missing=0
for eui in "${qemu_ids[@]}"; do
  n=$(grep -c '^node_mioty: sent reading' "$work/qemu/$eui/console.txt" || true)
  [ "$n" -gt 0 ] || { echo "demo: QEMU node $eui sent nothing" >&2; qemu_missing=1; }
  qemu_sent=$((qemu_sent + n))
done
# A QEMU DTLS node's readings: those the gateway acknowledged (2.04).
for id in "${qemu_dtls_ids[@]}"; do
  n=$(grep -c '^node_dtls: acked reading' "$work/qemu-dtls/$id/console.txt" || true)
  [ "$n" -gt 0 ] || { echo "demo: QEMU DTLS node $id had no reading acknowledged" >&2; qemu_missing=1; }
  qemu_sent=$((qemu_sent + n))
done
# Booted through the bootloader: each QEMU node's console must show the
# bootloader verifying the signed application before handing over.
if [ "$qemu_via_bootloader" -eq 1 ]; then
  qemu_dirs=()
  for eui in "${qemu_ids[@]}"; do qemu_dirs+=("$work/qemu/$eui"); done
  for id in "${qemu_dtls_ids[@]}"; do qemu_dirs+=("$work/qemu-dtls/$id"); done
  for dir in "${qemu_dirs[@]}"; do
    grep -q '^bootloader: starting application' "$dir/console.txt" ||
      { echo "demo: $dir: the bootloader did not start the application" >&2; qemu_missing=1; }
  done
fi
sent=$(( (dtls_nodes + mioty_nodes) * posts - failed + qemu_sent ))
[ -z "$dtls_load" ] || sent=$(( mioty_nodes * posts + load_acked + qemu_sent ))
# Readings a tampering uplink dropped (--tamper) never arrive: by design.
tamper_drops=0
[ "$tamper" -eq 0 ] || tamper_drops=$(jq -r 'select(.attack == "drop") | .messageId' "$work/tamper.log" 2>/dev/null | wc -l)
for _ in $(seq 1 900); do [ "$(count_log)" -ge "$((sent - tamper_drops))" ] && break; sleep 0.2; done
delivered_at=$(date +%s.%N)
if [ -n "$dtls_load" ]; then
  # Where the time went: CPU of each process over the load and its drain,
  # and the gateway's own stage times, which it prints when it stops.
  gateway_ticks=$(( $(cpu_ticks "$gateway_pid") - gateway_ticks0 ))
  verifier_ticks=$(( $(cpu_ticks "$verifier_pid") - verifier_ticks0 ))
  kill -TERM "$gateway_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$gateway_pid" 2>/dev/null || break; sleep 0.1; done
  stage_line=$(grep -a 'cxsec-gateway: stages' "$work/gateway.err" | tail -n 1 | sed 's/^cxsec-gateway: stages //')
  stage_line="$stage_line gateway_cpu_ticks=$gateway_ticks verifier_cpu_ticks=$verifier_ticks clk_tck=$(getconf CLK_TCK)"
fi
sleep 1
verified=$(count_log)
unique=$(jq -r '.deviceId + " " + .messageId' "$log" 2>/dev/null | sort -u | wc -l)
duplicates=$((verified - unique))
metrics=$(curl -sf --cacert "$work/ca.pem" -H "Authorization: Bearer $admin_key" "$api/metrics" || true)
echo
echo "== cxsec demo report =="
echo "messages sent (acknowledged to nodes): $sent"
echo "node posts that failed (not acknowledged): $failed"
echo "verified at the cloud: $unique"
echo "duplicates at the cloud: $duplicates"
echo "rejected at the cloud, by reason:"
echo "$metrics" | sed -n 's/^cxsec_rejections_total{reason="\(.*\)"} \(.*\)$/  \1: \2/p'
echo "  (expected: unknown_device: $rogue_posts, from the unregistered device)"
echo "firmware: $firmware_report"
# drops_of DEVICE: how many of its readings the tampering uplink dropped.
drops_of() {
  [ "$tamper" -eq 1 ] || { echo 0; return; }
  jq -r --arg d "$1" 'select(.attack == "drop" and .deviceId == $d) | .messageId' "$work/tamper.log" 2>/dev/null | wc -l
}
# qemu_check_sealed ID SENT CONSOLE: a sealed QEMU node's readings all
# arrived sealed (opened and accepted with seal = required), but for those
# a tampering uplink dropped; when the
# firmware moved to later seal epochs on its own (the in-slot builds
# ratchet every 2 or 3 readings), the verifier followed it to the same
# epoch;
# a DTLS node's seal receipts line is shown, and as many of its readings
# are unreceipted as the uplink dropped (none without --tamper-qemu).
qemu_sealed=0
qemu_check_sealed() {
  [ "$(seal_policy "$1")" = required ] || return 0
  local n node_epoch verifier_epoch receipts drops
  drops=$(drops_of "$1")
  n=$(jq -r --arg d "$1" 'select(.deviceId == $d and .seal != null) | .messageId' "$log" 2>/dev/null | sort -u | wc -l)
  if [ "$drops" -eq 0 ]; then
    echo "    sealed (seal = required): $n of $2 readings opened and accepted"
  else
    echo "    sealed (seal = required): $n of $2 readings opened and accepted, $drops dropped by the uplink"
  fi
  qemu_sealed=$((qemu_sealed + 1))
  [ "$n" -eq "$(($2 - drops))" ] || qemu_missing=1
  node_epoch=$(sed -n 's/^node_[a-z]*: seal epoch \([0-9]*\) from sequence .*/\1/p' "$3" | tail -1)
  if [ -n "$node_epoch" ]; then
    verifier_epoch=$(curl -sf --cacert "$work/ca.pem" -H "Authorization: Bearer $admin_key" "$api/v1/devices/$1" | jq -r '.sealState.epoch // 0')
    echo "    seal epochs: the node moved to epoch $node_epoch on its own, the verifier is at epoch $verifier_epoch"
    [ "$verifier_epoch" = "$node_epoch" ] || qemu_missing=1
  fi
  receipts=$(grep '^node_dtls: seal receipts ' "$3" || true)
  if [ -n "$receipts" ]; then
    echo "    ${receipts#node_dtls: }"
    case "$receipts" in *" unreceipted=$drops "*) ;; *)
      echo "demo: QEMU DTLS node $1: expected unreceipted=$drops" >&2; qemu_missing=1 ;; esac
  fi
}
if [ "$qemu_mioty_nodes" -gt 0 ]; then
  echo "QEMU Mioty nodes: $qemu_mioty_nodes, readings sent: $(cat "$work"/qemu/*/console.txt | grep -c '^node_mioty: sent reading' || true)"
  for eui in "${qemu_ids[@]}"; do
    at_cloud=$(jq -r --arg d "D${eui^^}" 'select(.deviceId == $d) | .messageId' "$log" 2>/dev/null | sort -u | wc -l)
    node_sent=$(grep -c '^node_mioty: sent reading' "$work/qemu/$eui/console.txt" || true)
    echo "  $eui: sent $node_sent, verified at the cloud $at_cloud; $(cat "$work/qemu/$eui/bridge.out")"
    grep -E '^(bootloader: image|node_mioty: (sealing|REFUSED))' "$work/qemu/$eui/console.txt" | sed 's/^/    /' || true
    [ "$at_cloud" -eq "$((node_sent - $(drops_of "D${eui^^}")))" ] || qemu_missing=1
    qemu_check_sealed "D${eui^^}" "$node_sent" "$work/qemu/$eui/console.txt"
  done
fi
if [ "$qemu_dtls_nodes" -gt 0 ]; then
  echo "QEMU DTLS nodes: $qemu_dtls_nodes"
  for id in "${qemu_dtls_ids[@]}"; do
    at_cloud=$(jq -r --arg d "$id" 'select(.deviceId == $d) | .messageId' "$log" 2>/dev/null | sort -u | wc -l)
    node_acked=$(grep -c '^node_dtls: acked reading' "$work/qemu-dtls/$id/console.txt" || true)
    echo "  $id: acknowledged $node_acked, verified at the cloud $at_cloud; $(cat "$work/qemu-dtls/$id/bridge.out")"
    grep -E '^(bootloader: image|node_dtls: (handshake|sealing|stack|FAILED|REFUSED))' "$work/qemu-dtls/$id/console.txt" | sed 's/^/    /' || true
    [ "$at_cloud" -eq "$((node_acked - $(drops_of "$id")))" ] || qemu_missing=1
    qemu_check_sealed "$id" "$node_acked" "$work/qemu-dtls/$id/console.txt"
  done
fi
# Sealed devices: their counter state at the verifier, and under --tamper
# each attack's verdict (tools/demo/tamper_proxy.py).
dropped=0 seal_failed=0 tamper_lines=()
if [ "${#sealed_ids[@]}" -gt 0 ]; then
  seal_accepted=0 seal_gaps=0 seal_max_epoch=0
  for id in "${sealed_ids[@]}"; do
    state=$(curl -sf --cacert "$work/ca.pem" -H "Authorization: Bearer $admin_key" "$api/v1/devices/$id" | jq -c .sealState)
    n=$(jq -r --arg d "$id" 'select(.deviceId == $d and .seal != null) | .messageId' "$log" 2>/dev/null | sort -u | wc -l)
    seal_accepted=$((seal_accepted + n))
    gaps=$(echo "$state" | jq -r '.gaps // 0')
    seal_gaps=$((seal_gaps + gaps))
    [ "$n" -gt 0 ] || { echo "demo: sealed device $id has no sealed reading at the verifier" >&2; seal_failed=1; }
    epoch=$(echo "$state" | jq -r '.epoch // 0')
    [ "$epoch" -le "$seal_max_epoch" ] || seal_max_epoch=$epoch
  done
  seal_report="${#sealed_ids[@]} devices with seal = required ($qemu_sealed in QEMU), $seal_accepted sealed readings opened and accepted, gaps $seal_gaps, highest key epoch $seal_max_epoch"
  # --seal-epoch-readings: the nodes moved to later epochs on their own,
  # and the verifier followed them.
  if [ "$seal_epoch_readings" -gt 0 ] && [ "$posts" -gt "$seal_epoch_readings" ] && [ "$seal_max_epoch" -lt 1 ]; then
    echo "demo: no sealed device reached a later key epoch at the verifier" >&2; seal_failed=1
  fi
  if [ "$tamper" -eq 1 ]; then
    declare -A expected=([flip]=rejected/seal_tag_mismatch [flip_header]=rejected/seal_tag_mismatch
      [flip_tag]=rejected/seal_tag_mismatch [forge]=rejected/seal_tag_mismatch
      [move]=rejected/seal_tag_mismatch [strip]=rejected/seal_required [replay]=duplicate
      [mioty_counter]=rejected/seal_tag_mismatch [drop]=dropped)
    declare -A attacks=([dtls]="drop flip flip_header flip_tag forge move strip replay"
      [mioty]="${drop_mioty[*]:+drop }flip flip_header flip_tag forge strip mioty_counter")
    # Drop swallows a run of two consecutive readings of one device
    # (tamper_proxy.py's DROP_RUN); every other attack is one message.
    declare -A times=([drop]=2)
    tamper_lines=()
    # Each attack once on each radio that has an attacked device, on one
    # of those devices, with its verdict.
    for transport in dtls mioty; do
      case ",$sealed_spec" in *":$transport,"*) ;; *) continue ;; esac
      for attack in ${attacks[$transport]}; do
        got=$(jq -r --arg a "$attack" --arg t "$transport" \
          'select(.attack == $a and .transport == $t) | .verdict + " on " + .deviceId' \
          "$work/tamper.log" 2>/dev/null | sort | uniq -c | sed 's/^ *//')
        n="${times[$attack]:-1}"
        tamper_lines+=("$transport $attack: ${got:-not mounted} (expected $n: ${expected[$attack]})")
        case "$got" in "$n ${expected[$attack]} on "*) ;; *) seal_failed=1 ;; esac
        [ "$(echo "$got" | wc -l)" -eq 1 ] || seal_failed=1
        # Never on a device the proxy was not told to attack.
        attacked "${got##* on }" || seal_failed=1
      done
    done
    dropped=$(jq -r 'select(.attack == "drop") | .messageId' "$work/tamper.log" 2>/dev/null | wc -l)
    # Encrypted mode: the marker the sealed host DTLS nodes put in their
    # readings is nowhere on the way (the uplink's bodies and payloads, the
    # gateway's spool and logs) and is in the verifier's opened readings
    # (when there are such nodes: the firmware puts no marker in).
    marker_nodes=$(( dtls_nodes < sealed_nodes ? dtls_nodes : sealed_nodes ))
    [ -z "$dtls_load" ] || marker_nodes=0
    seen_on_uplink=$(jq -r 'select(.attack == "marker_visible") | .deviceId' "$work/tamper.log" 2>/dev/null | wc -l)
    seen_at_gateway=$({ grep -rlaF "$marker" "$work/spool" "$work/gateway.out" "$work/gateway.err" 2>/dev/null || true; } | wc -l)
    at_verifier=$(python3 -c 'import base64, json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("reading")
    if r and sys.argv[2].encode() in base64.urlsafe_b64decode(r + "=" * (-len(r) % 4)):
        n += 1
print(n)' "$log" "$marker")
    tamper_lines+=("marker in clear on the uplink: $seen_on_uplink, in the gateway's spool and logs: $seen_at_gateway files, in the verifier's opened readings: $at_verifier$([ "$marker_nodes" -gt 0 ] || echo " (no sealed host DTLS node puts it in)")")
    if [ "$seen_on_uplink" -ne 0 ] || [ "$seen_at_gateway" -ne 0 ] || { [ "$marker_nodes" -gt 0 ] && [ "$at_verifier" -eq 0 ]; }; then
      echo "demo: the sealed readings' marker was visible on the way, or missing at the verifier" >&2; seal_failed=1
    fi
    # The dropped reading is the only gap: nothing the attacks did moved
    # any device's counter state.
    [ "$seal_gaps" -eq "$dropped" ] || { echo "demo: sealed gaps $seal_gaps, dropped $dropped" >&2; seal_failed=1; }
    # Per device: its counter state at the verifier is exactly what its
    # honest readings in the log make it (the latest epoch, the highest
    # sequence of that epoch), and its gaps are its dropped readings.
    state_ok=0
    for id in "${sealed_ids[@]}"; do
      state=$(curl -sf --cacert "$work/ca.pem" -H "Authorization: Bearer $admin_key" "$api/v1/devices/$id" | jq -c .sealState)
      want=$(jq -s -c --arg d "$id" --argjson gaps "$(drops_of "$id")" \
        '[.[] | select(.deviceId == $d and .seal != null) | .seal] | (map(.epoch) | max) as $e |
         {epoch: $e, highestSequence: (map(select(.epoch == $e) | .sequence) | max), gaps: $gaps}' "$log")
      got=$(echo "$state" | jq -c '{epoch, highestSequence, gaps}')
      if [ "$got" = "$want" ]; then
        state_ok=$((state_ok + 1))
      else
        echo "demo: $id: counter state $got at the verifier, its honest readings make it $want" >&2; seal_failed=1
      fi
    done
    tamper_lines+=("counter state: $state_ok of ${#sealed_ids[@]} sealed devices as their honest readings make it (epoch, highest sequence; gaps = its dropped readings)")
    # Seal receipts (docs/SEALED_READINGS.md, "Receipts"): the DTLS node
    # whose readings were dropped after the gateway had acknowledged them
    # got no receipt for them, says so on stderr (a QEMU node: on its
    # console), and reports them ("ur") inside its next sealed readings;
    # no honest node reports any.
    receipt_nodes=()
    for id in "${dtls_ids[@]:0:$sealed_nodes}"; do receipt_nodes+=("$id=$work/nodes/$id.err"); done
    for id in "${qemu_dtls_ids[@]:0:$sealed_nodes}"; do receipt_nodes+=("$id=$work/qemu-dtls/$id/console.txt"); done
    receipt_report=$(python3 - "$log" "$work/tamper.log" "${receipt_nodes[@]}" <<'PY'
import base64, json, re, sys

def cbor(b, i=0):
    """A minimal CBOR decoder for the node's readings: (value, next)."""
    major, info = b[i] >> 5, b[i] & 31
    i += 1
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    else:
        raise ValueError("indefinite lengths are not used")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major in (2, 3):
        return b[i:i + n], i + n
    if major == 4:
        out = []
        for _ in range(n):
            v, i = cbor(b, i)
            out.append(v)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = cbor(b, i)
            v, i = cbor(b, i)
            out[k.decode() if isinstance(k, bytes) else k] = v
        return out, i
    if major == 7:
        return {20: False, 21: True, 22: None}.get(info, n), i
    raise ValueError("tag")

log, tamper_log = sys.argv[1], sys.argv[2]
logs = dict(arg.split("=", 1) for arg in sys.argv[3:])
ids = list(logs)
dropped = {d: 0 for d in ids}
for line in open(tamper_log):
    attack = json.loads(line)
    if attack.get("attack") == "drop" and attack.get("deviceId") in dropped:
        dropped[attack["deviceId"]] += 1
worst = {d: 0 for d in ids}
for line in open(log):
    entry = json.loads(line)
    r, d = entry.get("reading"), entry.get("deviceId")
    if not r or d not in worst:
        continue
    value, _ = cbor(base64.urlsafe_b64decode(r + "=" * (-len(r) % 4)))
    data = next(iter(value.values())).get("d", {}) if isinstance(value, dict) else {}
    worst[d] = max(worst[d], data.get("ur", 0))
ok = True
firmware = re.compile(r"^node_dtls: (\d+) sealed reading\(s\) acknowledged by the gateway without a receipt")
for d in ids:
    logged = 0
    for l in open(logs[d], errors="replace"):
        if "no receipt came back" in l:  # cxsec-node: one line a reading
            logged += 1
        elif firmware.match(l):  # node_dtls: one line a check
            logged += int(firmware.match(l).group(1))
    want = dropped[d]
    ok &= worst[d] == want and logged == want
    print("%s: unreceipted %d in its sealed readings, %d on its %s (expected %d)%s"
          % (d, worst[d], logged, "console" if logs[d].endswith("console.txt") else "stderr",
             want, " [%d of its readings dropped]" % want if want else ""))
print("ok" if ok else "FAILED")
PY
) || true
    while IFS= read -r line; do
      case "$line" in
        ok) ;;
        FAILED) echo "demo: seal receipts did not show the dropped reading (only) at its node" >&2; seal_failed=1 ;;
        *) tamper_lines+=("seal receipts: $line") ;;
      esac
    done <<<"$receipt_report"
    [ -n "$receipt_report" ] || { echo "demo: no seal receipt report" >&2; seal_failed=1; }
  fi
fi
if [ -n "${seal_report:-}" ]; then
  echo "sealed readings: $seal_report"
  for line in "${tamper_lines[@]}"; do echo "  untrusted gateway, $line"; done
  [ "$dropped" -eq 0 ] || echo "  (the gateway's uplink dropped $dropped acknowledged reading(s): they are missing on purpose, and show as gaps)"
fi
lost=$((sent - unique - dropped))
if [ -n "$dtls_load" ]; then
  echo "load: $load_line"
  echo "stages: $stage_line"
  python3 -c "import sys; print('end-to-end: %.0f messages/s into the verifier log' % ($unique / ($delivered_at - $load_start)))"
fi
if [ "$baseline_seconds" -gt 0 ]; then
  token=$("$cxsec" jwt mint --tpm "$tcti" --tpm-auth-file "$tpm_auth" --sub "$gateway_id" --aud demo --ttl 3600)
  devices_lua=$(printf '"%s",' "${dtls_ids[@]}")
  cat >"$work/baseline.lua" <<LUA
local devices = { ${devices_lua} }
local n = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
request = function()
  n = n + 1
  local d = devices[(n % #devices) + 1]
  local body = '{"messages":[{"deviceId":"' .. d .. '","messageId":"wrk-' .. tid .. '-' .. n ..
               '","timestamp":1700000000000,"transport":"dtls","payload":"oQEC_w"}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
  wrk -t2 -c"${#dtls_ids[@]}" -d"${baseline_seconds}s" --latency -s "$work/baseline.lua" "$api" >"$work/baseline.out" 2>&1 || true
  echo "baseline (wrk straight to the verifier, 1 message per POST, ${#dtls_ids[@]} connections):"
  grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx' "$work/baseline.out" | sed 's/^/  /'
fi
echo "lost: $lost"
echo "nodes that exited with an error: $node_errors"
refused_503=$(cat "$work"/nodes/*.err 2>/dev/null | grep -c 'post failed: gateway answered 5.03' || true)
echo "posts refused with CoAP 5.03 (spool full): $refused_503"
fault_failed=0
if [ "$expect_503" -eq 1 ] && { [ "$refused_503" -eq 0 ] || [ "$refused_503" -ne "$failed" ]; }; then
  echo "demo: expected every failed post to be a CoAP 5.03 (5.03: $refused_503, failed: $failed)" >&2
  fault_failed=1
fi
if [ "$expect_503" -eq 0 ] && [ "$failed" -ne 0 ]; then
  echo "demo: $failed node posts failed" >&2
  fault_failed=1
fi
if [ -n "${tpm_faulted:-}" ]; then
  tpm_error=$(grep -m1 'TPM signing failed' "$work/gateway.err" || true)
  echo "TPM outage error at the gateway: ${tpm_error:-none}"
  [ -n "$tpm_error" ] || { echo "demo: no clear TPM error logged" >&2; fault_failed=1; }
fi
if [ "$seal_failed" -ne 0 ]; then
  echo "demo: sealed readings: an attack did not get its verdict, or the counter state moved" >&2
  tail -n 20 "$work/tamper.err" >&2 2>/dev/null || true
fi
if [ "$lost" -ne 0 ] || [ "$duplicates" -ne 0 ] || [ "$node_errors" -ne 0 ] || [ "$fault_failed" -ne 0 ] || [ "$qemu_missing" -ne 0 ] || [ "$seal_failed" -ne 0 ]; then
  # The work dir goes with the test's temp dir: show what the first nodes
  # that complained said (a sanitizer report lands here too).
  shown=0
  for f in "$work"/nodes/*.err; do
    [ -s "$f" ] || continue
    echo "--- $(basename "$f") (last 40 lines) ---" >&2
    tail -n 40 "$f" >&2
    shown=$((shown + 1))
    [ "$shown" -lt 2 ] || break
  done
  for id in "${qemu_dtls_ids[@]}"; do
    echo "--- QEMU DTLS node $id console (last 20 lines) ---" >&2
    tail -n 20 "$work/qemu-dtls/$id/console.txt" >&2 || true
    tail -n 5 "$work/qemu-dtls/$id/bridge.err" >&2 || true
  done
  echo "demo FAILED: messages lost or duplicated, or a check above failed (work dir $work)" >&2
  exit 1
fi
echo "demo passed: every message arrived exactly once"
