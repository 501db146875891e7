#!/bin/bash
# DTLS-PSK handshakes/s and CoAP requests/s through cxsec's gateway
# transport (DtlsServer) next to Debian's coap-server-gnutls, measured in the
# same run with the same client (transports/dtls/dtls_benchmark.cc).
# Both servers run with transports/dtls/gnutls_psk_ccm8.conf, so both
# negotiate TLS_PSK_WITH_AES_128_CCM_8. Prints a markdown table.
#
#   tools/bench/dtls.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build -c opt --jobs=2 //transports/dtls:dtls_benchmark >&2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TEST_TMPDIR=$TMP GNUTLS_SYSTEM_PRIORITY_FILE=$PWD/transports/dtls/gnutls_psk_ccm8.conf \
  bazel-bin/transports/dtls/dtls_benchmark --benchmark_format=json \
  > "$TMP/out.json"
python3 - "$TMP/out.json" <<'PY'
import json, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    name = b["name"].split("/")[0]
    rows.setdefault(name, {})[b["label"]] = b["items_per_second"]
print("| operation | cxsec | baseline (coap-server-gnutls) | ratio |")
print("| --- | --- | --- | --- |")
titles = {"BM_Handshake": "DTLS-PSK handshake + 1 CON request /s",
          "BM_Request": "CON request/response on a session /s"}
for name, title in titles.items():
    r = rows.get(name, {})
    c, b = r.get("cxsec", 0), r.get("coap-server-gnutls", 0)
    print(f"| {title} | {c:,.0f} | {b:,.0f} | {c / b if b else 0:.2f} |")
    emit(title, c, b, "/s", baseline_name="coap-server-gnutls, same client")
PY
