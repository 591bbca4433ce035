"""A stand-in for one Streamlit process in the classroom tests: answers ``/_stcore/health`` and says its name and
how many body bytes it received, so the supervisor and nginx can be tested in seconds.
``python tests/fake_backend.py PORT NAME``"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/slow":  # a request that stays open a while (a connection limit counts it)
            time.sleep(4)
        self.reply(b"ok" if self.path == "/_stcore/health" else f"{sys.argv[2]} {self.path}".encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        got = len(self.rfile.read(n))
        self.reply(f"{sys.argv[2]} received {got}".encode())

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
