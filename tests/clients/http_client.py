#!/usr/bin/python3
"""Sends numbered events to an in_http listener with Python's http.client.

    http_client.py HOST PORT FIRST COUNT CONNECTIONS

CONNECTIONS threads each keep one HTTP/1.1 connection alive and POST their
share of the events in batches of 50, alternating the body kinds in_http
takes: a JSON array, NDJSON, a MessagePack array (python3-msgpack) and a
form field (json=...). Each record is {"message": "seq=N http"}. A batch is
done when it is answered 200; a batch that gets no answer (the connection
reset or closed) is sent again on a new connection — at least once, as a
real client does — and counted. Prints "resent N" and exits 0 when every
batch was answered 200 (within 60 s of retries), 1 otherwise. HTTP_PACE_MS
(default 0) is a pause between a connection's batches.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

import msgpack

host, port, first, count, conns = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                   int(sys.argv[4]), int(sys.argv[5]))
BATCH = 50
PACE = int(os.environ.get("HTTP_PACE_MS", "0")) / 1000.0
resent = 0
failed = 0
lock = threading.Lock()


def body(kind, numbers):
    records = [{"message": "seq=%d http" % n} for n in numbers]
    if kind == 0:
        return json.dumps(records).encode(), "application/json"
    if kind == 1:
        return "".join(json.dumps(r) + "\n" for r in records).encode(), "application/x-ndjson"
    if kind == 2:
        return msgpack.packb(records), "application/msgpack"
    return (urllib.parse.urlencode({"json": json.dumps(records)}).encode(),
            "application/x-www-form-urlencoded")


def worker(index):
    global resent, failed
    conn = None
    mine = [n for n in range(first, first + count) if (n // BATCH) % conns == index]
    for b in range(0, len(mine), BATCH):
        numbers = mine[b:b + BATCH]
        data, ctype = body((b // BATCH) % 4, numbers)
        deadline = time.time() + 60
        tries = 0
        while True:
            tries += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", "/app/http", body=data, headers={"Content-Type": ctype})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError("status %d" % resp.status)
                if resp.getheader("Connection", "").lower() != "keep-alive":
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException, RuntimeError) as e:
                if conn is not None:
                    conn.close()
                conn = None
                if time.time() > deadline:
                    print("batch from %d failed: %s" % (numbers[0], e), flush=True)
                    with lock:
                        failed += 1
                    break
                time.sleep(0.05)
        if tries > 1:
            with lock:
                resent += 1
        if PACE:
            time.sleep(PACE)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("resent %d" % resent, flush=True)
sys.exit(1 if failed else 0)
