"""TF Serving's REST API over a ModelRepository, on the standard library's HTTP server.

Routes (as tensorflow_model_server's `--rest_api_port`):
  GET  /v1/models/NAME[/versions/N | /labels/L]            model status
  GET  /v1/models/NAME[/versions/N | /labels/L]/metadata   signature defs
  POST /v1/models/NAME[/versions/N | /labels/L]:predict    row `instances` or columnar `inputs`
  GET  /monitoring/prometheus/metrics                      request counters
Every failure answers `{"error": "..."}` with 400 (bad request) or 404 (unknown model, version or
path); the connection and the server stay usable.
"""
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from absl import logging

from vvs_tf.serving import codec, jsontext, responses
from vvs_tf.serving.errors import ServingError, invalid, not_found
from vvs_tf.serving.repository import as_version

_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>/metadata|:predict|:classify|:regress)?$"
)
METRICS_PATH = "/monitoring/prometheus/metrics"
_DRAIN_FACTOR = 4  # bodies up to this many times the limit are read and dropped, larger ones cut


class RestServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the repository, the body limit and the metrics."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, repository, metrics, max_request_bytes):
        super().__init__(address, _Handler)
        self.repository = repository
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes; with Nagle's algorithm a small body waits
    # for the client's delayed ACK of the headers (~40 ms on Linux): batch-1 predictions took
    # 53 ms p50 instead of 10.
    disable_nagle_algorithm = True
    server_version = "vvs-serve"

    def log_message(self, fmt, *args):
        logging.debug("REST %s " + fmt, self.client_address[0], *args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        start = time.perf_counter()
        model, api = "", "unknown"
        try:
            body = self._read_body() if method == "POST" else None
            if method == "GET" and self.path.split("?")[0] == METRICS_PATH:
                self._send(200, self.server.metrics.prometheus_text().encode(), "text/plain")
                return
            match = _ROUTE.match(self.path)
            if not match:
                raise not_found(f"Malformed request: {method} {self.path}")
            model, tail = match["name"], match["tail"]
            api = {None: "status", "/metadata": "metadata"}.get(tail, tail and tail[1:])
            status, payload = 200, self._route(method, match, api, body)
        except ServingError as error:
            status, payload = error.http_status, {"error": error.message}
        except Exception as error:  # noqa: BLE001  (the server answers and keeps serving)
            logging.exception("REST %s %s failed", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(error).__name__}: {error}"}
        data = jsontext.dumps(payload)  # numeric outputs are ndarrays, written whole
        # counted before the answer leaves, so a client that has its answer sees it counted
        self.server.metrics.record(model, f"rest_{api}", str(status), time.perf_counter() - start)
        self._send(status, data)

    def _route(self, method, match, api, body):
        repository = self.server.repository
        version = as_version(match["version"]) if match["version"] else None
        if method == "GET" and api == "status":
            return responses.to_json(responses.status_response(repository, match["name"], version))
        if method == "GET" and api == "metadata":
            servable = repository.servable(match["name"], version, match["label"])
            return responses.metadata_json(responses.metadata_response(servable))
        if method == "POST" and api == "predict":
            servable = repository.servable(match["name"], version, match["label"])
            return self._predict(servable, body)
        if method == "POST" and api in ("classify", "regress"):
            raise invalid(f"{api} is not supported: activation exports have predict signatures only")
        raise not_found(f"Malformed request: {method} {self.path}")

    def _predict(self, servable, body):
        try:
            request = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise invalid(f"JSON Parse error: {error}") from None
        if not isinstance(request, dict):
            raise invalid("request body must be a JSON object")
        name = request.get("signature_name", "")
        if not isinstance(name, str):
            raise invalid("'signature_name' must be a string")
        signature = servable.signature(name)
        inputs, row_format = codec.parse_predict_request(request, signature)
        if row_format and len({a.shape[:1] for a in inputs.values()}) > 1:
            raise invalid("row-format inputs must share their 0-th dimension")
        outputs = servable.predict(signature.name, inputs)
        return codec.predict_response_json(outputs, row_format)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise invalid("chunked request bodies are not supported; send a Content-Length")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise invalid("a POST request needs a Content-Length header") from None
        limit = self.server.max_request_bytes
        if length > limit:
            if length <= _DRAIN_FACTOR * limit:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            else:
                self.close_connection = True
            raise invalid(f"request body of {length} bytes exceeds the limit of {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise invalid(f"request body ended after {len(body)} of {length} bytes")
        return body

    def _send(self, status, data: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
