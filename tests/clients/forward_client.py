#!/usr/bin/python3
"""Sends numbered events to an in_forward listener and checks the acks.

    forward_client.py HOST PORT MODE FIRST COUNT

MODE: logger (python3-fluent-logger's FluentSender, Message mode with
EventTime), resend (Forward mode with acks, resending a batch whose ack
did not come on a new connection: at least once across agent stops),
message, forward, packed, gzip (Forward Protocol v1 modes built
with python3-msgpack; every message carries a chunk option and its ack is
awaited and compared). Each event's record is {"message": "seq=N MODE"}.
Exits 0 when every event was sent (and acked), 1 otherwise.

With FORWARD_SHARED_KEY set, the client first does the <security> handshake
(HELO, PING with the key's digest, PONG checked against the server's digest);
a PONG that refuses exits 3.
"""
import base64
import gzip
import os
import socket
import struct
import sys
import time

import msgpack

host, port, mode, first, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def event_time():
    now = time.time()
    return msgpack.ExtType(0, struct.pack(">II", int(now), int((now % 1) * 1e9)))


def record(n):
    return {"message": "seq=%d %s" % (n, mode), "n": n}


if mode == "logger":
    from fluent import sender
    s = sender.FluentSender("py", host=host, port=port, nanosecond_precision=True, timeout=10)
    for n in range(first, first + count):
        if not s.emit("app", record(n)):
            print("emit failed:", s.last_error, file=sys.stderr)
            sys.exit(1)
    s.close()
    sys.exit(0)

if mode == "resend":
    # At least once across agent stops: Forward mode with acks; a batch whose
    # ack does not come (connection refused, reset, closed) is sent again with
    # the same chunk id on a new connection, until a minute without success.
    # FORWARD_PACE_MS paces the batches. Prints how many were sent again.
    resent = 0
    pace = float(os.environ.get("FORWARD_PACE_MS", "0")) / 1000  # between batches
    conn, unp = None, None
    n = first
    while n < first + count:
        ids = range(n, min(n + 100, first + count))
        chunk = base64.b64encode(os.urandom(16)).decode()
        message = msgpack.packb(["app", [[event_time(), record(i)] for i in ids],
                                 {"chunk": chunk, "size": len(ids)}], use_bin_type=True)
        deadline = time.time() + 60
        tries = 0
        while True:
            try:
                if conn is None:
                    conn = socket.create_connection((host, port), timeout=10)
                    unp = msgpack.Unpacker(raw=False)
                tries += 1
                conn.sendall(message)
                acked = False
                while not acked:
                    for reply in unp:
                        if reply.get("ack") == chunk:
                            acked = True
                    if acked:
                        break
                    data = conn.recv(65536)
                    if not data:
                        raise ConnectionError("closed before the ack")
                    unp.feed(data)
                break
            except (OSError, ConnectionError):
                if conn is not None:
                    conn.close()
                conn = None
                if time.time() > deadline:
                    print("no ack for chunk", chunk, "within a minute", file=sys.stderr)
                    sys.exit(1)
                time.sleep(0.05)  # the agent restarting: retry pacing, bounded by the deadline
        if tries > 1:
            resent += 1
        n += len(ids)
        time.sleep(pace)
    print("resent", resent)
    sys.exit(0)

sock = socket.create_connection((host, port), timeout=30)
unpacker = msgpack.Unpacker(raw=False)


def next_message():
    while True:
        for m in unpacker:
            return m
        data = sock.recv(65536)
        if not data:
            print("connection closed", file=sys.stderr)
            sys.exit(1)
        unpacker.feed(data)


key = os.environ.get("FORWARD_SHARED_KEY")
if key is not None:
    import hashlib
    helo = next_message()
    assert helo[0] == "HELO", helo
    nonce = helo[1]["nonce"]
    nonce = nonce if isinstance(nonce, bytes) else nonce.encode("latin-1")
    salt, me = os.urandom(16).hex(), "client.test"
    digest = hashlib.sha512(salt.encode() + me.encode() + nonce + key.encode()).hexdigest()
    sock.sendall(msgpack.packb(["PING", me, salt, digest, "", ""], use_bin_type=True))
    pong = next_message()
    if pong[0] != "PONG" or not pong[1]:
        print("refused:", pong, file=sys.stderr)
        sys.exit(3)
    server = pong[3]
    want = hashlib.sha512(salt.encode() + server.encode() + nonce + key.encode()).hexdigest()
    if pong[4] != want:
        print("the server does not hold the key:", pong, file=sys.stderr)
        sys.exit(1)


def send_and_ack(message, chunk):
    sock.sendall(msgpack.packb(message, use_bin_type=True))
    while True:
        for reply in unpacker:
            if reply.get("ack") != chunk:
                print("ack", reply, "for chunk", chunk, file=sys.stderr)
                sys.exit(1)
            return
        data = sock.recv(65536)
        if not data:
            print("connection closed before the ack of", chunk, file=sys.stderr)
            sys.exit(1)
        unpacker.feed(data)


batch = 100
n = first
while n < first + count:
    ids = range(n, min(n + batch, first + count))
    chunk = base64.b64encode(os.urandom(16)).decode()
    if mode == "message":
        for i in ids:
            # integer seconds, float seconds and EventTime in turn
            t = [int(time.time()), time.time(), event_time()][i % 3]
            c = base64.b64encode(os.urandom(16)).decode()
            send_and_ack(["app", t, record(i), {"chunk": c}], c)
    elif mode == "forward":
        send_and_ack(["app", [[event_time(), record(i)] for i in ids], {"chunk": chunk, "size": len(ids)}], chunk)
    else:
        stream = b"".join(msgpack.packb([event_time(), record(i)], use_bin_type=True) for i in ids)
        option = {"chunk": chunk, "size": len(ids)}
        if mode == "gzip":
            # two gzip members, as a sender appending to a compressed chunk makes
            half = len(stream) // 2
            stream = gzip.compress(stream[:half]) + gzip.compress(stream[half:])
            option["compressed"] = "gzip"
        send_and_ack(["app", stream, option], chunk)
    n += len(ids)
sock.close()
