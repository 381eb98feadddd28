"""A stand-in Hugging Face hub on 127.0.0.1, for tests without the internet.

It answers what `huggingface_hub.hf_hub_download` asks (HEAD, then GET, of `/{repo}/resolve/{revision}/{file}`, with the
`X-Repo-Commit` and `ETag` headers the client keys its cache on, and byte ranges), serves plain files under `/files/{name}`
(for `METAMUSIC_MIRROR`), and records every request. Point `HF_ENDPOINT` at `server.url` before `huggingface_hub` is imported.
"""
import hashlib, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    def _lookup(self):
        path = unquote(self.path.split("?")[0])
        if path.startswith("/files/"): return self.server.plain.get(path[len("/files/"):])
        if "/resolve/" in path:
            repo, _, rest = path.lstrip("/").partition("/resolve/")
            _, _, filename = rest.partition("/")
            return self.server.hub.get((repo, filename))
        return None

    def _answer(self, body_wanted: bool):
        self.server.requests.append((self.command, unquote(self.path)))
        data = self._lookup()
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Error-Message", "Entry not found")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0] or 0)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else: self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if body_wanted: self.wfile.write(data[start:])

    def do_HEAD(self): self._answer(False)
    def do_GET(self): self._answer(True)
    def log_message(self, *args): pass


class StandInHub:
    "`hub[(repo, filename)] = bytes` for hub files, `plain[name] = bytes` for `/files/name`; `url` is the endpoint."
    def __init__(self):
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.srv.daemon_threads, self.srv.block_on_close = True, False
        self.srv.hub, self.srv.plain, self.srv.requests = {}, {}, []
        self.hub, self.plain, self.requests = self.srv.hub, self.srv.plain, self.srv.requests
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *exc): self.srv.shutdown(); self.srv.server_close(); self.thread.join(5)
