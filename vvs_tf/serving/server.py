"""vvs-serve: a local stand-in for tensorflow_model_server over the same export directories.

Machines without the TF Serving binary serve the same `BASE/NAME/<version>/` exports the same way:
TF Serving's REST API and gRPC PredictionService/ModelService, new versions picked up by polling,
the highest version served by default.

  vvs-serve --model_base_path=BASE/NAME [--model_name=NAME] --rest_api_port=8501 --port=8500
  vvs-serve --model_config_file=serving/models.config          (several models, as TF Serving)

Differences from tensorflow_model_server: no request batching, predict signatures only, and it
binds 127.0.0.1 unless --host says otherwise.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import os
import signal
import threading

from absl import app, flags, logging

from vvs_tf.serving.allocator import SERVER_REUSE_BYTES, reuse_freed_memory
from vvs_tf.serving.grpc_service import make_grpc_server
from vvs_tf.serving.metrics import RequestMetrics
from vvs_tf.serving.repository import ModelConfig, ModelRepository, read_model_config_file
from vvs_tf.serving.rest import RestServer

DEFAULT_MAX_REQUEST_BYTES = 256 << 20


class LocalServer:
    """Repository + REST + gRPC, started and stopped together (usable inside tests).

    Ports: an integer binds it (0 picks a free one, read back from `.rest_port`/`.grpc_port`);
    None leaves that front-end off.
    """

    def __init__(self, configs, host="127.0.0.1", rest_port=8501, grpc_port=8500,
                 poll_seconds=1.0, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, grpc_workers=8):
        if rest_port is None and grpc_port is None:
            raise ValueError("LocalServer needs a REST port, a gRPC port or both")
        self.host = host
        self.repository = ModelRepository(configs, poll_seconds)
        self.metrics = RequestMetrics()
        self._rest_port, self._grpc_port = rest_port, grpc_port
        self.max_request_bytes = int(max_request_bytes)
        self.grpc_workers = grpc_workers
        self.rest_port = self.grpc_port = None
        self._rest = self._rest_thread = self._grpc = None

    def start(self) -> "LocalServer":
        self.repository.start()
        try:
            if self._grpc_port is not None:
                self._grpc, self.grpc_port = make_grpc_server(
                    f"{self.host}:{self._grpc_port}", self.repository, self.metrics,
                    self.max_request_bytes, self.grpc_workers)
                self._grpc.start()
            if self._rest_port is not None:
                self._rest = RestServer((self.host, self._rest_port), self.repository,
                                        self.metrics, self.max_request_bytes)
                self.rest_port = self._rest.server_address[1]
                self._rest_thread = threading.Thread(
                    target=self._rest.serve_forever, kwargs={"poll_interval": 0.1},
                    name="vvs-serve-rest", daemon=True)
                self._rest_thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest_thread.join()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace=1.0).wait()
            self._grpc = None
        self.repository.stop()

    def rest_url(self, model: str) -> str:
        return f"http://{self.host}:{self.rest_port}/v1/models/{model}"

    def grpc_url(self, model: str) -> str:
        return f"grpc://{self.host}:{self.grpc_port}/{model}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def define_flags(flag_values=flags.FLAGS):
    """The binary's flags (TF Serving's names), defined only when it runs."""
    fv = dict(flag_values=flag_values)
    flags.DEFINE_string("model_base_path", None, "Directory of one model's version dirs.", **fv)
    flags.DEFINE_string("model_name", None, "Name of that model (default: the directory's).", **fv)
    flags.DEFINE_string("model_config_file", None,
                        "TF Serving ModelServerConfig text proto naming several models.", **fv)
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind (0.0.0.0: every interface).", **fv)
    flags.DEFINE_integer("port", 8500, "gRPC port (0: off).", **fv)
    flags.DEFINE_integer("rest_api_port", 8501, "REST port (0: off).", **fv)
    flags.DEFINE_float("file_system_poll_wait_seconds", 1.0, "Seconds between version scans.", **fv)
    flags.DEFINE_integer("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES,
                         "Largest accepted request body (REST) or message (gRPC).", **fv)
    flags.DEFINE_integer("grpc_max_threads", 8, "gRPC worker threads.", **fv)


def configs_from_flags(fv=flags.FLAGS) -> list:
    """ModelConfigs named by --model_base_path[/--model_name] or --model_config_file."""
    if bool(fv.model_base_path) == bool(fv.model_config_file):
        raise app.UsageError("give exactly one of --model_base_path or --model_config_file")
    if fv.model_config_file:
        return read_model_config_file(fv.model_config_file)
    base = os.path.abspath(fv.model_base_path)
    return [ModelConfig(name=fv.model_name or os.path.basename(base.rstrip(os.sep)),
                        base_path=base)]


def server_from_flags(fv=flags.FLAGS) -> LocalServer:
    """An unstarted LocalServer configured like the command line says."""
    return LocalServer(
        configs_from_flags(fv), host=fv.host, rest_port=fv.rest_api_port or None,
        grpc_port=fv.port or None, poll_seconds=fv.file_system_poll_wait_seconds,
        max_request_bytes=fv.max_request_bytes, grpc_workers=fv.grpc_max_threads)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not reuse_freed_memory(SERVER_REUSE_BYTES):  # the binary owns its process (see allocator)
        logging.info("large freed buffers go back to the OS (no glibc, or GLIBC_TUNABLES set)")
    server = server_from_flags().start()
    for name, config in server.repository.configs.items():
        versions = [v for v, state, _ in server.repository.status(name) if state == "AVAILABLE"]
        logging.info("model %s from %s: versions %s", name, config.base_path, versions)
        if server.rest_port:
            print(f"REST  {server.rest_url(name)}", flush=True)
        if server.grpc_port:
            print(f"gRPC  {server.grpc_url(name)}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
