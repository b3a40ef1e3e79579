#!/usr/bin/python3
"""A small Kubernetes API server for the tests: pods only, over HTTPS, with the real wire shapes.

kube-apiserver does not run on the test machines, so this plays its part for the node agent's pod
watcher (recorder/pods/pod_watcher.h): list with fieldSelector=spec.nodeName=NODE, limit and
continue; watch with resourceVersion, allowWatchBookmarks and timeoutSeconds as a chunked stream of
`{"type":...,"object":...}` lines; Status objects for 401, 403, 410 (an ERROR event on a watch,
an HTTP 410 for an expired continue token); bearer tokens checked (and client certificates).

The test drives it through a control listener (plain HTTP, loopback): add/modify/delete pods,
send a BOOKMARK, compact (what is older becomes 410 Gone), write raw bytes (garbage, oversized
lines) to open watches, drop or stall them mid-object, rotate the token, fail the next requests.
It writes {"api": PORT, "control": PORT} to --ready-file once it listens.
"""
import argparse
import base64
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.parse

LOCK = threading.Condition()
STATE = {
    "rv": 100,
    "compacted": 0,  # a watch from a version below this is 410 Gone
    "pods": {},  # uid -> pod
    "events": [],  # (rv, type, pod)
    "token": "",
    "requests": [],
    "fail": [],  # statuses for the next requests
    "injections": [],  # (sequence, kind, data) for open watches
    "injection_seq": 0,
    "watches": 0,
    "stopping": False,
}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def next_rv():
    STATE["rv"] += 1
    return STATE["rv"]


def on_node(pod, node):
    return node is None or pod.get("spec", {}).get("nodeName") == node


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the test's log stays readable
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        cert = None
        try:
            cert = self.connection.getpeercert()
        except Exception:
            pass
        with LOCK:
            token = STATE["token"]
        if cert:
            return "cert", True
        if auth.startswith("Bearer ") and token and auth[7:] == token:
            return auth[7:], True
        return auth[7:] if auth.startswith("Bearer ") else "", False

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        who, ok = self.authorized()
        record = {"path": url.path, "query": {k: v[0] for k, v in query.items()}, "token": who, "ok": ok}
        with LOCK:
            STATE["requests"].append(record)
            fail = STATE["fail"].pop(0) if STATE["fail"] else None
        if url.path != "/api/v1/pods":
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if not ok:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        if fail:
            return self.send_json(fail, status(fail, "InternalError", "injected failure %d" % fail))
        selector = query.get("fieldSelector", [""])[0]
        node = selector[len("spec.nodeName="):] if selector.startswith("spec.nodeName=") else None
        if query.get("watch", [""])[0] in ("true", "1"):
            return self.watch(query, node)
        return self.list(query, node)

    def list(self, query, node):
        limit = int(query.get("limit", ["0"])[0] or 0)
        token = query.get("continue", [""])[0]
        with LOCK:
            if token:
                snap = json.loads(base64.b64decode(token))
                rv, offset = snap["rv"], snap["offset"]
                if rv < STATE["compacted"]:
                    return self.send_json(410, status(410, "Expired", "The provided continue parameter is too old"))
                pods = [p for p in snap_pods(rv) if on_node(p, node)]
            else:
                rv, offset = STATE["rv"], 0
                SNAPSHOTS[rv] = list(STATE["pods"].values())
                pods = [p for p in SNAPSHOTS[rv] if on_node(p, node)]
        page = pods[offset:offset + limit] if limit else pods[offset:]
        meta = {"resourceVersion": str(rv)}
        if limit and offset + limit < len(pods):
            meta["continue"] = base64.b64encode(json.dumps({"rv": rv, "offset": offset + limit}).encode()).decode()
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": page})

    def watch(self, query, node):
        since = int(query.get("resourceVersion", ["0"])[0] or 0)
        timeout = int(query.get("timeoutSeconds", ["1800"])[0] or 1800)
        bookmarks = query.get("allowWatchBookmarks", [""])[0] == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.monotonic() + timeout
        with LOCK:
            if since < STATE["compacted"]:
                gone = {"type": "ERROR", "object": status(410, "Expired", "too old resource version: %d (%d)" %
                                                          (since, STATE["compacted"]))}
                self.chunk(json.dumps(gone) + "\n")
                self.chunk(b"")
                self.wfile.write(b"0\r\n\r\n")
                return
            seen_injection = STATE["injection_seq"]
            STATE["watches"] += 1
        try:
            while True:
                with LOCK:
                    out = []
                    for rv, kind, pod in STATE["events"]:
                        if rv > since and on_node(pod, node):
                            out.append(json.dumps({"type": kind, "object": pod}) + "\n")
                            since = rv
                    injections = [i for i in STATE["injections"] if i[0] > seen_injection]
                    if injections:
                        seen_injection = injections[-1][0]
                    if not out and not injections:
                        remaining = end - time.monotonic()
                        if remaining <= 0 or STATE["stopping"]:
                            break
                        LOCK.wait(min(remaining, 0.2))
                        continue
                for line in out:
                    self.chunk(line)
                for _, kind, data in injections:
                    if kind == "raw":
                        self.chunk(data)
                    elif kind == "bookmark" and bookmarks:
                        with LOCK:
                            rv = STATE["rv"]
                        self.chunk(json.dumps({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                                                             "metadata": {"resourceVersion": str(rv)}}})
                                   + "\n")
                        since = max(since, rv)
                    elif kind == "gone":
                        self.chunk(json.dumps({"type": "ERROR", "object": status(410, "Expired", "too old")}) + "\n")
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    elif kind == "drop":
                        self.chunk('{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"na')
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    elif kind == "stall":
                        self.chunk('{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"na')
                        with LOCK:
                            while not STATE["stopping"] and STATE["stall"]:
                                LOCK.wait(0.2)
                        self.close_connection = True
                        return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with LOCK:
                STATE["watches"] -= 1


SNAPSHOTS = {}


def snap_pods(rv):
    return SNAPSHOTS.get(rv, [])


def snapshot():
    SNAPSHOTS[STATE["rv"]] = list(STATE["pods"].values())


class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.reply({"rv": STATE["rv"], "watches": STATE["watches"], "requests": STATE["requests"],
                        "pods": len(STATE["pods"])})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        arg = json.loads(self.rfile.read(length) or b"{}")
        op = self.path.strip("/")
        with LOCK:
            if op in ("add", "modify"):
                pods = arg["pods"] if "pods" in arg else [arg["pod"]]
                for pod in pods:
                    rv = next_rv()
                    pod.setdefault("metadata", {})["resourceVersion"] = str(rv)
                    STATE["pods"][pod["metadata"]["uid"]] = pod
                    STATE["events"].append((rv, "ADDED" if op == "add" else "MODIFIED", pod))
                snapshot()
            elif op == "delete":
                for uid in arg["uids"] if "uids" in arg else [arg["uid"]]:
                    pod = STATE["pods"].pop(uid)
                    rv = next_rv()
                    pod = json.loads(json.dumps(pod))
                    pod["metadata"]["resourceVersion"] = str(rv)
                    STATE["events"].append((rv, "DELETED", pod))
                snapshot()
            elif op == "compact":
                # every version so far is too old: lists continue nowhere, watches from them get 410
                STATE["compacted"] = next_rv()
                STATE["events"] = []
                snapshot()
            elif op == "token":
                STATE["token"] = arg["token"]
            elif op == "fail":
                STATE["fail"] += [arg["status"]] * arg.get("count", 1)
            elif op in ("raw", "bookmark", "gone", "drop", "stall"):
                if op == "bookmark":
                    next_rv()
                if op == "stall":
                    STATE["stall"] = True
                STATE["injection_seq"] += 1
                STATE["injections"].append((STATE["injection_seq"], op, arg.get("data", "")))
            elif op == "unstall":
                STATE["stall"] = False
            elif op == "forget-requests":
                STATE["requests"] = []
            else:
                self.send_error(404)
                return
            LOCK.notify_all()
            rv = STATE["rv"]
        self.reply({"rv": rv})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--token", default="")
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    STATE["token"] = args.token
    STATE["stall"] = False

    api = Server((args.address, 0), Api)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    api.socket = ctx.wrap_socket(api.socket, server_side=True, do_handshake_on_connect=False)
    control = Server(("127.0.0.1", 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"api": api.server_address[1], "control": control.server_address[1]}, f)
    import os
    os.rename(args.ready_file + ".tmp", args.ready_file)
    try:
        api.serve_forever()
    finally:
        with LOCK:
            STATE["stopping"] = True
            LOCK.notify_all()


if __name__ == "__main__":
    main()
