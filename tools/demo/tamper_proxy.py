#!/usr/bin/env python3
"""A compromised gateway's uplink, for the untrusted-gateway tests.

Sits between cxsec-gateway and cxsec-verifier (HTTPS on both sides) with
everything the gateway has: its JWT (passed through), its CA bundle, the
batches it sends. For sealed devices it mounts each attack of
docs/SEALED_READINGS.md once, as an extra message injected next to the
honest one, and records the verifier's verdict for it:

  flip           one bit of the body flipped              seal_tag_mismatch
  flip_header    the header's mode bit flipped            seal_tag_mismatch
  flip_tag       one bit of the tag flipped               seal_tag_mismatch
  forge          an envelope made without the node's key
                 (DTLS: same header and sequence, another
                 body and tag)                            seal_tag_mismatch
  move           a DTLS reading posted as another device's seal_tag_mismatch
  strip          a plain CBOR reading instead             seal_required
  replay         an accepted reading under a new id       duplicate
  mioty_counter  a Mioty frame under other counter bits   seal_tag_mismatch
  drop           a run of DROP_RUN (2) consecutive readings
                 of one device swallowed, the gateway
                 told "accepted" for each                 a gap each at the verifier

Each attack is mounted once per transport that has a sealed device (move
and replay on DTLS only, mioty_counter on Mioty only; drop on DTLS, where
the node has receipts to notice it, and with --drop-mioty on Mioty too,
where the verifier's gap count is all there is to see it), and log lines
carry the transport. --sealed names the devices attacked: the host nodes in
untrusted_gateway_test, the QEMU firmware nodes in
untrusted_gateway_qemu_test.

With --marker, it also looks for that text in every body it carries and
every payload (base64url-decoded), and logs {"attack": "marker_visible"}
each time it sees it: in encrypted mode it must never see it.

Honest messages are forwarded unchanged, so the verifier's counter state
must end exactly as without the attacks (apart from the dropped readings'
gaps). Results go to --log as JSON lines {attack, transport, deviceId,
messageId, verdict}. It runs in its own process: its Python ssl (OpenSSL 3) never
shares a process with cxsec's BoringSSL.
"""
import argparse
import base64
import http.client
import http.server
import json
import os
import ssl
import threading

# Tried in this order for each sealed reading. Drop comes first so that it
# takes the earliest reading it may (not a device's first): the node must
# send enough readings after it to count it as unreceipted.
ATTACKS = {
    "dtls": ["drop", "flip", "flip_header", "flip_tag", "forge", "move", "strip",
             "replay"],
    "mioty": ["flip", "flip_header", "flip_tag", "forge", "strip", "mioty_counter"],
}
# Drop swallows this many consecutive sealed readings of one device (a run,
# not a single reading): each must show as a gap and, on its node, as an
# unreceipted reading.
DROP_RUN = 2
# Envelope overhead around the body: header (and DTLS sequence), and tag.
PREFIX = {"dtls": 5, "mioty": 1}
TAG_SIZE = 8


def transport_of(message):
    return "mioty" if message.get("transport") == "mioty" else "dtls"


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def is_sealed(payload):
    if not isinstance(payload, str) or not payload:
        return False
    try:
        raw = b64d(payload)
    except ValueError:
        return False
    return len(raw) > 0 and (raw[0] >> 5) == 1


class State:
    def __init__(self, sealed, log_path, drop_mioty=False):
        self.lock = threading.Lock()
        self.sealed = sealed
        self.pending = {t: list(a) for t, a in ATTACKS.items()}
        if drop_mioty:
            self.pending["mioty"].insert(0, "drop")
        self.accepted = []  # honest sealed DTLS messages the verifier accepted
        self.devices_accepted = set()  # sealed devices with one accepted
        self.drop_run = {}  # device -> readings of its run still to drop
        # (device, messageId) of every sealed message seen: the gateway
        # sends a reading again under its id when the node retransmitted
        # it (a slow 2.04), and only a fresh reading may start or continue
        # a run of drops; the dropped ones' later copies are dropped too.
        self.seen = set()
        self.dropped_ids = set()
        self.log = open(log_path, "a", buffering=1)
        self.marker = b""

    def saw_marker(self, where):
        self.log.write(json.dumps({"attack": "marker_visible", "deviceId": where,
                                   "messageId": "", "verdict": "seen"}) + "\n")

    def take(self, message):
        """The attack to mount next to `message`, or None."""
        with self.lock:
            key = (message["deviceId"], message["messageId"])
            if key in self.dropped_ids:
                return "drop_copy"
            fresh = key not in self.seen
            self.seen.add(key)
            # The rest of a run of drops: the device's next readings.
            if fresh and self.drop_run.get(message["deviceId"], 0) > 0:
                self.drop_run[message["deviceId"]] -= 1
                self.dropped_ids.add(key)
                return "drop"
            pending = self.pending[transport_of(message)]
            for attack in pending:
                if attack == "replay" and not self.accepted:
                    continue
                # Moved under its own counter, a Mioty frame's id would be
                # the other device's honest frame's id ("mioty-<device>-<counter>",
                # counters run in step): move DTLS readings only.
                if attack == "move" and not self.other(message):
                    continue
                # A gap is counted when a later reading is accepted after a
                # device's first: never drop a device's first reading.
                # A DTLS node has a way back for seal receipts: it must
                # notice that its reading got none.
                if attack == "drop" and (
                        not fresh or message["deviceId"] not in self.devices_accepted):
                    continue
                if attack == "drop":
                    self.drop_run[message["deviceId"]] = DROP_RUN - 1
                    self.dropped_ids.add(key)
                pending.remove(attack)
                return attack
        return None

    def other(self, message):
        for device, transport in self.sealed.items():
            if device != message["deviceId"] and transport == message.get("transport"):
                return device
        return None


def mount(state, attack, message, n):
    """The injected message for `attack`, or None for drop."""
    forged = dict(message)
    if message.get("transport") == "mioty":
        # A Mioty id must stay "mioty-<device>-<counter>" (the verifier reads
        # the sequence from it); a counter 2^31 away never meets an honest one.
        prefix, counter = message["messageId"].rsplit("-", 1)
        forged["messageId"] = "%s-%d" % (prefix, (int(counter) + (1 << 31)) % (1 << 32))
    else:
        forged["messageId"] = "%s-attack-%s-%d" % (message["messageId"], attack, n)
    raw = bytearray(b64d(message["payload"]))
    prefix = PREFIX[transport_of(message)]
    if attack == "flip":
        # The middle of the body (the envelope itself if it has none).
        body = len(raw) - prefix - TAG_SIZE
        raw[prefix + body // 2 if body > 0 else len(raw) // 2] ^= 0x01
        forged["payload"] = b64e(bytes(raw))
    elif attack == "flip_header":
        # Mode bit: still a version 1 header, so still a sealed reading.
        raw[0] ^= 0x10
        forged["payload"] = b64e(bytes(raw))
    elif attack == "flip_tag":
        raw[-1] ^= 0x80
        forged["payload"] = b64e(bytes(raw))
    elif attack == "forge":
        forged["payload"] = b64e(bytes(raw[:prefix]) + os.urandom(len(raw) - prefix))
    elif attack == "move":
        forged["deviceId"] = state.other(message)
    elif attack == "strip":
        forged["payload"] = b64e(bytes([0xA1, 0x61, 0x6E, 0x00]))
    elif attack == "replay":
        with state.lock:
            earlier = state.accepted[0]
        forged["deviceId"] = earlier["deviceId"]
        forged["payload"] = earlier["payload"]
    elif attack == "mioty_counter":
        prefix, counter = message["messageId"].rsplit("-", 1)
        forged["messageId"] = "%s-%d" % (prefix, (int(counter) + (1 << 24)) % (1 << 32))
        forged["payload"] = message["payload"]
    elif attack in ("drop", "drop_copy"):
        return None
    return forged


def make_handler(state, upstream_port, upstream_ctx):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self, method, body):
            conn = http.client.HTTPSConnection("127.0.0.1", upstream_port,
                                               context=upstream_ctx, timeout=30)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("authorization", "content-type")}
            conn.request(method, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp.status, resp.getheader("Content-Type", "application/json"), data

        def reply(self, status, ctype, data):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.reply(*self.forward("GET", None))

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/telemetry":
                return self.reply(*self.forward("POST", body))
            if state.marker and state.marker in body:
                state.saw_marker(self.path)
            batch = json.loads(body)
            for m in batch.get("messages", []):
                payload = m.get("payload")
                if state.marker and isinstance(payload, str):
                    try:
                        if state.marker in b64d(payload):
                            state.saw_marker(m["deviceId"])
                    except ValueError:
                        pass
            out, injected, dropped = [], {}, []
            for i, m in enumerate(batch.get("messages", [])):
                attack = None
                if m["deviceId"] in state.sealed and is_sealed(m.get("payload")):
                    attack = state.take(m)
                if attack is not None:
                    forged = mount(state, attack, m, i)
                    if forged is None:
                        dropped.append(m)
                        # A later copy of a dropped reading is logged apart:
                        # the demo counts the readings dropped, not copies.
                        state.log.write(json.dumps({
                            "attack": attack, "transport": transport_of(m),
                            "deviceId": m["deviceId"],
                            "messageId": m["messageId"], "verdict": "dropped"}) + "\n")
                        continue
                    injected[(forged["deviceId"], forged["messageId"])] = (
                        attack, transport_of(m))
                    out.append(forged)
                out.append(m)
            results = []
            if out:  # a batch whose every message was dropped is not sent
                status, ctype, data = self.forward(
                    "POST", json.dumps({"messages": out}).encode())
                if status != 200:
                    return self.reply(status, ctype, data)
                results = json.loads(data)["results"]
            honest = []
            for m, r in zip(out, results):
                key = (m["deviceId"], m["messageId"])
                if key in injected:
                    verdict = r["status"] + ("/" + r["error"] if "error" in r else "")
                    state.log.write(json.dumps({
                        "attack": injected[key][0], "transport": injected[key][1],
                        "deviceId": m["deviceId"],
                        "messageId": m["messageId"], "verdict": verdict}) + "\n")
                    continue
                if r["status"] == "accepted" and m["deviceId"] in state.sealed:
                    with state.lock:
                        state.devices_accepted.add(m["deviceId"])
                        if m.get("transport") != "mioty":
                            state.accepted.append(m)
                # Passed on unchanged, seal receipt included: only the
                # node's key makes one, so a tampering uplink can withhold
                # it but not forge it.
                honest.append(r)
            # The gateway is told its dropped readings were accepted, with
            # no seal receipt (there is none to give): the node notices.
            for m in dropped:
                honest.append({"deviceId": m["deviceId"], "messageId": m["messageId"],
                               "status": "accepted"})
            self.reply(200, "application/json", json.dumps({"results": honest}).encode())

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--sealed", required=True, help="DEVICE:TRANSPORT,...")
    p.add_argument("--log", required=True)
    p.add_argument("--marker", default="")
    # Drop Mioty readings too: only where a device's key epoch does not
    # change within a few frames (a run of drops at an epoch's end would
    # be no gap: a later epoch starts a fresh window).
    p.add_argument("--drop-mioty", action="store_true")
    a = p.parse_args()
    sealed = dict(item.split(":") for item in a.sealed.split(",") if item)
    state = State(sealed, a.log, a.drop_mioty)
    state.marker = a.marker.encode()
    upstream = ssl.create_default_context(cafile=a.ca)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", a.port), make_handler(state, a.upstream_port, upstream))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("tamper proxy ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
