"""Loaded model versions, kept in step with the version directories TF Serving would watch.

Each model has a base path holding integer version directories (`BASE/NAME/<version>/`). A poll
loads versions as they become complete (their `saved_model.pb` exists; exports are renamed into
place, and hidden temp directories are never numbers) and drops versions the policy no longer
wants only after their replacements are available, as TF Serving does. Requests name a model and
optionally a version or label; without one they get the highest loaded version.
"""
import vvs_tf  # noqa: F401  (oneDNN before TensorFlow)

import os
import threading
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from vvs_tf.serving import codec
from vvs_tf.serving.errors import ServingError, invalid, not_found

DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_LOAD_ATTEMPTS = 3


@dataclass
class ModelConfig:
    """One served model: where its versions live and which of them to serve."""

    name: str
    base_path: str
    policy: str = "latest"  # "latest" (the highest num_versions), "all" or "specific"
    num_versions: int = 1
    versions: tuple = ()
    labels: dict = field(default_factory=dict)

    def aspired(self, ready) -> list:
        ready = sorted(ready)
        if self.policy == "all":
            return ready
        if self.policy == "specific":
            return [v for v in ready if v in self.versions]
        return ready[-self.num_versions:] if ready else []


def read_model_config_file(path: str) -> list:
    """ModelConfigs from a TF Serving `--model_config_file` (ModelServerConfig text proto)."""
    from tensorflow_serving.config import model_server_config_pb2

    if not os.path.isfile(path):
        raise FileNotFoundError(f"model config file not found: {path}")
    proto = model_server_config_pb2.ModelServerConfig()
    with open(path) as f:
        try:
            text_format.Parse(f.read(), proto)
        except text_format.ParseError as error:
            raise ValueError(f"{path}: not a ModelServerConfig text proto: {error}") from None
    configs = []
    for entry in proto.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise ValueError(f"{path}: every model needs a name and a base_path")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        configs.append(ModelConfig(
            name=entry.name,
            base_path=entry.base_path,
            policy=kind,
            num_versions=max(1, policy.latest.num_versions) if kind == "latest" else 1,
            versions=tuple(policy.specific.versions) if kind == "specific" else (),
            labels=dict(entry.version_labels),
        ))
    if len({c.name for c in configs}) != len(configs):
        raise ValueError(f"{path}: model names must be unique")
    return configs


def ready_versions(base_path: str) -> dict:
    """{version: saved_model.pb mtime} of complete version directories."""
    if not os.path.isdir(base_path):
        return {}
    ready = {}
    for entry in os.listdir(base_path):
        pb = os.path.join(base_path, entry, "saved_model.pb")
        if entry.isdigit() and os.path.isfile(pb):
            ready[int(entry)] = os.path.getmtime(pb)
    return ready


class Servable:
    """One loaded version: its signatures (as TF Serving reports them) and a thread-safe predict."""

    def __init__(self, name: str, version: int, path: str):
        self.name, self.version, self.path = name, version, path
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags]
        if not graphs:
            raise ValueError(f"{path}: no meta graph tagged 'serve'")
        self.signature_defs = graphs[0].signature_def
        self.signatures = codec.signatures_of(self.signature_defs)
        self._functions = tf.saved_model.load(path, tags=["serve"]).signatures

    def signature(self, name: str) -> codec.Signature:
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise invalid(f"Serving signature key \"{name}\" not found; model {self.name} "
                          f"version {self.version} has {sorted(self.signatures)}")
        return self.signatures[name]

    def predict(self, signature_name: str, inputs: dict, output_filter=()) -> dict:
        """Validated inputs -> {output name: array}; bad names, dtypes or shapes are errors."""
        signature = self.signature(signature_name)
        codec.check_input_names(inputs, signature)
        tensors = {}
        for key, array in inputs.items():
            spec = signature.inputs[key]
            expected = np.dtype(codec.numpy_dtype(spec.dtype))
            if array.dtype != expected and not (expected.kind == "O" and array.dtype.kind in "OS"):
                raise invalid(f"input '{key}' is {array.dtype}, signature '{signature.name}' "
                              f"expects {codec.dtype_name(spec.dtype)}")
            if not spec.accepts_shape(array.shape):
                raise invalid(f"input '{key}' has shape {list(array.shape)}, signature "
                              f"'{signature.name}' expects {spec.describe()}")
            tensors[key] = tf.constant(array, dtype=tf.as_dtype(spec.dtype))
        unknown = sorted(set(output_filter) - set(signature.outputs))
        if unknown:
            raise invalid(f"output tensor alias {unknown} not found in signature "
                          f"'{signature.name}' (outputs {sorted(signature.outputs)})")
        try:
            outputs = self._functions[signature.name](**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise invalid(error.message) from None
        except tf.errors.OpError as error:
            raise ServingError(status_code_of(error), error.message) from None
        wanted = output_filter or list(signature.outputs)
        return {key: _to_numpy(outputs[key]) for key in wanted}

    def warm_up(self):
        """Replay assets.extra/tf_serving_warmup_requests (PredictionLogs), as TF Serving does."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.isfile(path):
            return 0
        from tensorflow_serving.apis import prediction_log_pb2

        count = 0
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            log = prediction_log_pb2.PredictionLog.FromString(record)
            if log.WhichOneof("log_type") == "predict_log":
                request = log.predict_log.request
                self.predict(request.model_spec.signature_name,
                             {k: codec.from_tensor_proto(v) for k, v in request.inputs.items()})
                count += 1
        return count


def _to_numpy(tensor) -> np.ndarray:
    """Tensor -> ndarray sharing the tensor's memory (`.numpy()` would copy every activation
    once more); strings become object arrays of bytes (scalars included)."""
    if tensor.dtype == tf.string:
        return np.asarray(tensor.numpy(), dtype=object)
    return np.asarray(tensor)


def status_code_of(error: tf.errors.OpError):
    """The grpc.StatusCode of a TensorFlow runtime error (their numeric codes coincide)."""
    import grpc

    return next((c for c in grpc.StatusCode if c.value[0] == error.error_code),
                grpc.StatusCode.UNKNOWN)


class ModelRepository:
    """The served versions of several models, refreshed from disk by `refresh()` or a poll thread."""

    def __init__(self, configs, poll_seconds: float = 1.0):
        self.configs = {c.name: c for c in configs}
        if len(self.configs) != len(configs):
            raise ValueError("model names must be unique")
        self.poll_seconds = poll_seconds
        self._loaded = {name: {} for name in self.configs}
        self._failed = {name: {} for name in self.configs}  # version -> (mtime, attempts, msg)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # -- loading ----------------------------------------------------------------------------

    def refresh(self):
        """Load newly complete versions and retire the ones the policy no longer aspires to."""
        with self._refresh_lock:
            for config in self.configs.values():
                self._refresh_model(config)

    def _refresh_model(self, config):
        ready = ready_versions(config.base_path)
        failed = self._failed[config.name]
        for version in list(failed):
            if version not in ready or ready[version] != failed[version][0]:
                del failed[version]  # gone or rewritten: forget the failure
        usable = [v for v in ready if failed.get(v, (0, 0))[1] < MAX_LOAD_ATTEMPTS]
        aspired = config.aspired(usable)
        with self._lock:
            current = dict(self._loaded[config.name])
        available = {v: current[v] for v in aspired if v in current}
        for version in aspired:
            if version in available:
                continue
            path = os.path.join(config.base_path, str(version))
            try:
                servable = Servable(config.name, version, path)
                warmed = servable.warm_up()
            except Exception as error:  # noqa: BLE001  (any load failure keeps the old versions)
                attempts = failed.get(version, (0, 0))[1] + 1
                failed[version] = (ready[version], attempts, f"{type(error).__name__}: {error}")
                logging.warning("loading %s version %d failed (attempt %d): %s",
                                config.name, version, attempts, error)
                continue
            failed.pop(version, None)
            available[version] = servable
            logging.info("loaded %s version %d from %s (%d warm-up requests)",
                         config.name, version, path, warmed)
        if available or not aspired:  # all aspired versions failing to load keeps the old ones
            with self._lock:
                self._loaded[config.name] = available
            for version in sorted(set(current) - set(available)):
                logging.info("unloaded %s version %d", config.name, version)

    def start(self):
        """Load what is on disk now, then keep polling in a daemon thread."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="vvs-serve-poll", daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001  (a bad poll must not end polling)
                logging.exception("polling model directories failed")

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- lookup -----------------------------------------------------------------------------

    def _config(self, name):
        if name not in self.configs:
            raise not_found(f"Servable not found for request: Latest({name})")
        return self.configs[name]

    def servable(self, name: str, version: int = None, label: str = None) -> Servable:
        """The servable a request names; the highest loaded version when it names none."""
        config = self._config(name)
        if label:
            if label not in config.labels:
                raise not_found(f"Unrecognized servable version label: {label} (model {name})")
            version = config.labels[label]
        with self._lock:
            loaded = self._loaded[name]
            if version is None:
                if not loaded:
                    raise not_found(f"Servable not found for request: Latest({name})")
                return loaded[max(loaded)]
            if int(version) not in loaded:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return loaded[int(version)]

    def status(self, name: str, version: int = None) -> list:
        """[(version, state, error message)] of a model's loaded and failed versions."""
        self._config(name)
        with self._lock:
            rows = [(v, "AVAILABLE", "") for v in self._loaded[name]]
        rows += [(v, "END", msg) for v, (_, attempts, msg) in self._failed[name].items()
                 if v not in {r[0] for r in rows}]
        if version is not None:
            rows = [r for r in rows if r[0] == int(version)]
            if not rows:
                raise not_found(f"Could not find version {version} of model {name}")
        return sorted(rows)


def as_version(text, what="version") -> int:
    """A version number from a URL or proto field, or a clear error."""
    try:
        version = int(text)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be an integer, got {text!r}") from None
    if version < 0:
        raise invalid(f"{what} must be non-negative, got {version}")
    return version
