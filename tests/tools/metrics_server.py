#!/usr/bin/python3
"""metrics_server.py — a tiny /metrics endpoint for the obs-ship tests and
bench: serves the file BODY (re-read on every request, so a test can change
it) on 127.0.0.1, a free port written to PORTFILE once listening.

  metrics_server.py PORTFILE BODY [--type CONTENT-TYPE] [--headers FILE]
                    [--status CODE] [--series N] [--delay SECONDS]

--headers appends each request's Accept and Accept-Encoding headers to FILE;
the body is gzip-encoded when the request accepts gzip; --series N serves N
generated series instead of BODY (for the bench)."""
import argparse, gzip, http.server, os, socketserver, sys

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("body")
ap.add_argument("--type", default="text/plain; version=0.0.4; charset=utf-8")
ap.add_argument("--headers")
ap.add_argument("--status", type=int, default=200)
ap.add_argument("--series", type=int, default=0)
ap.add_argument("--delay", type=float, default=0)
a = ap.parse_args()

generated = None
if a.series:
    lines = ["# TYPE bench_value gauge"]
    for i in range(a.series):
        lines.append('bench_value{shard="%d",kind="k%d"} %d' % (i, i % 7, i))
    generated = ("\n".join(lines) + "\n").encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if a.delay:
            import time
            time.sleep(a.delay)
        if a.headers:
            with open(a.headers, "a") as f:
                f.write("accept=%s\n" % self.headers.get("Accept", ""))
                f.write("accept-encoding=%s\n" % self.headers.get("Accept-Encoding", ""))
                f.write("timeout=%s\n" % self.headers.get("X-Prometheus-Scrape-Timeout-Seconds", ""))
        if generated is not None:
            body = generated
        else:
            with open(a.body, "rb") as f:
                body = f.read()
        self.send_response(a.status)
        self.send_header("Content-Type", a.type)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", 0), H)
tmp = a.portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, a.portfile)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
