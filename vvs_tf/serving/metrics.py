"""Request counters and latencies of vvs-serve, readable by tests and in Prometheus text format.

TF Serving exports `:tensorflow:serving:request_count` and a latency summary at the path of its
monitoring config; vvs-serve keeps the same names so one dashboard watches either server.
"""
import threading
from collections import defaultdict


class RequestMetrics:
    """Thread-safe counts and summed latency per (model, API, outcome)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = defaultdict(int)
        self._latency = defaultdict(float)

    def record(self, model: str, api: str, status: str, seconds: float):
        key = (model or "", api, status)
        with self._lock:
            self._count[key] += 1
            self._latency[key] += seconds

    def count(self, model: str = None, api: str = None, status: str = None) -> int:
        with self._lock:
            return sum(n for (m, a, s), n in self._count.items()
                       if (model is None or m == model) and (api is None or a == api)
                       and (status is None or s == status))

    def prometheus_text(self) -> str:
        lines = ["# TYPE :tensorflow:serving:request_count counter"]
        with self._lock:
            items = sorted(self._count.items())
            latency = dict(self._latency)
        for (model, api, status), n in items:
            lines.append(f':tensorflow:serving:request_count{{model_name="{model}",api="{api}",'
                         f'status="{status}"}} {n}')
        lines.append("# TYPE :tensorflow:serving:request_latency_seconds_sum counter")
        for (model, api, status), _ in items:
            lines.append(f':tensorflow:serving:request_latency_seconds_sum{{model_name="{model}",'
                         f'api="{api}",status="{status}"}} {latency[(model, api, status)]:.6f}')
        return "\n".join(lines) + "\n"
