#!/usr/bin/env python3
"""pdpwait.py - poll a pdpd's Health over its socket until a condition holds (stdlib only).

    python3 bench/grants/pdpwait.py SOCKET serving      [--since T] [--timeout S]
    python3 bench/grants/pdpwait.py SOCKET stamp-change OLD_HEX [--since T] [--timeout S]
    python3 bench/grants/pdpwait.py SOCKET checked-after T [--since T] [--timeout S]
    python3 bench/grants/pdpwait.py SOCKET stamp

`serving` waits until Health says SERVING; `stamp-change` until it says SERVING with a stamp
other than OLD_HEX (a new snapshot was published); `checked-after T` until Status says the
last source check ended at or after T (Unix seconds; Status.last_check_unix_ms); `stamp`
prints the current stamp.  Each poll is one Health (or Status) request on one connection
kept open (a new one when pdpd is not listening yet or closed it), every --interval seconds
(default 0.002), so a time is exact to about 2 ms: start pdpwait first, then what it waits
for, and give --since.  Prints one line of JSON:
{"ms": <milliseconds from --since (Unix seconds, default: when pdpwait started) to the poll
 that saw the condition>, "at": <that poll's Unix time>, "stamp": "<hex>", "state":
 "SERVING", "polls": N} and for checked-after also "check_end_ms": last_check_unix_ms minus
--since in ms (the check's own end, independent of the polling).  Exit 0 when the condition
held, 1 on timeout (default 600 s), 2 on bad arguments.

The protobuf fields read are few and fixed (proto/pdp.proto), so they are decoded by hand:
Request.id = 1, Request.health = 6, Request.server_status = 7; Response.status = 2
(Status.code = 1), Response.health = 7 (HealthResponse.state = 1, stamp = 3),
Response.server_status = 8 (StatusResponse.last_check_unix_ms = 4).
"""
import json
import socket
import struct
import sys
import time

STATES = {0: "UNSPECIFIED", 1: "SERVING", 2: "DEGRADED", 3: "NO_POLICY"}


def varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, i
        shift += 7


def fields(buf):
    """{field number: last value} of one protobuf message (varints and length-delimited)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out[num] = v
    return out


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b


class Health:
    def __init__(self, path):
        self.path, self.sock, self.id = path, None, 0

    def ask(self, status=False):
        """(state name, stamp hex), or with status (last_check_unix_ms, stamp hex); None when
        pdpd is not answering."""
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(5)
                self.sock.connect(self.path)
            self.id += 1
            # id, then health {} or server_status {}
            body = b"\x08" + self.varint_bytes(self.id) + (b"\x3a\x00" if status else b"\x32\x00")
            self.sock.sendall(struct.pack(">I", len(body)) + body)
            n = struct.unpack(">I", recv_exact(self.sock, 4))[0]
            resp = fields(recv_exact(self.sock, n))
            want = 8 if status else 7
            st = fields(resp.get(2, b""))
            if st.get(1) != 1 or want not in resp:
                return None
            h = fields(resp[want])
            if status:
                v = h.get(4, 0)
                return (v - (1 << 64) if v >= 1 << 63 else v), h.get(2, b"").hex()
            return STATES.get(h.get(1, 0), str(h.get(1))), h.get(3, b"").hex()
        except (OSError, ConnectionError, ValueError, struct.error):
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            return None

    @staticmethod
    def varint_bytes(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])


def main(argv):
    args, opts = [], {"--since": None, "--timeout": "600", "--interval": "0.002"}
    it = iter(argv)
    for a in it:
        if a in opts:
            opts[a] = next(it, None)
        else:
            args.append(a)
    if len(args) < 2 or args[1] not in ("serving", "stamp-change", "checked-after", "stamp") or \
            (args[1] in ("stamp-change", "checked-after")) != (len(args) == 3) or len(args) > 3:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.time()
    since = float(opts["--since"]) if opts["--since"] else start
    deadline = start + float(opts["--timeout"])
    interval = float(opts["--interval"])
    h, polls = Health(args[0]), 0
    while True:
        r = h.ask(status=args[1] == "checked-after")
        polls += 1
        now = time.time()
        if r is not None and args[1] == "checked-after":
            if r[0] >= float(args[2]) * 1000:
                print(json.dumps({"ms": round((now - since) * 1000, 1), "at": round(now, 4),
                                  "check_end_ms": round(r[0] - since * 1000, 1),
                                  "stamp": r[1], "polls": polls}))
                return 0
        elif r is not None:
            state, stamp = r
            done = args[1] == "stamp" or (state == "SERVING" and (
                args[1] == "serving" or stamp != args[2]))
            if done:
                print(json.dumps({"ms": round((now - since) * 1000, 1), "at": round(now, 4),
                                  "stamp": stamp, "state": state, "polls": polls}))
                return 0
        if now > deadline:
            print(json.dumps({"timeout": True, "last": r, "polls": polls}))
            return 1
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
