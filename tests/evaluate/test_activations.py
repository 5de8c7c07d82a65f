import vvs_tf  # noqa: F401
import json
import os
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.evaluate import activations as act


def _keras_model(size=None):
    inputs = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c")(inputs)
    pool = keras.layers.MaxPooling2D(2)(conv)
    pooled = keras.layers.GlobalAveragePooling2D()(pool)
    return keras.Model(inputs, {"conv1": conv, "pool1": pool, "layer4.1": pooled}, name="tiny")


class Counting:
    """An activation model that counts the images it is asked for."""

    def __init__(self, model):
        self.inner = act.KerasActivationModel(model)
        self.layers, self.input_shape = self.inner.layers, self.inner.input_shape
        self.identifier = self.inner.identifier
        self.calls = []

    def __call__(self, images, layers=None):
        self.calls.append((len(images), tuple(layers or self.layers)))
        return self.inner(images, layers)


def _images(n=10, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


def test_keras_activation_model_returns_named_layers():
    model = _keras_model()
    wrapped = act.KerasActivationModel(model)
    assert wrapped.layers == ("conv1", "pool1", "layer4.1") and wrapped.input_shape == (None, None, 3)
    images = _images(3)
    out = wrapped(images, layers=["pool1"])
    assert list(out) == ["pool1"] and out["pool1"].dtype == np.float32
    assert np.allclose(out["pool1"], model(images)["pool1"].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="unknown layer"):
        wrapped(images, layers=["fc"])
    other = act.KerasActivationModel(_keras_model())
    assert other.identifier != wrapped.identifier       # different random weights


def test_extract_streams_to_cache_and_reuses_it(tmp_path):
    model = Counting(_keras_model())
    images = _images(10)
    ids = [f"s{i}" for i in range(10)]
    out = act.extract(model, images, ["conv1", "layer4.1"], batch_size=4, stimulus_ids=ids,
                      cache_dir=str(tmp_path))
    assert sorted(c[0] for c in model.calls) == [2, 4, 4]  # batches after the first run at once
    direct = model.inner(images)
    for layer in ("conv1", "layer4.1"):
        assert isinstance(out[layer], np.memmap)
        assert np.allclose(out[layer], direct[layer], atol=1e-6)
    model.calls.clear()
    again = act.extract(model, images, ["layer4.1", "conv1"], batch_size=4, stimulus_ids=ids,
                        cache_dir=str(tmp_path))
    assert model.calls == []                             # served from the cache
    assert np.array_equal(again["conv1"], out["conv1"])
    act.extract(model, images, ["conv1", "pool1"], batch_size=5, stimulus_ids=ids,
                cache_dir=str(tmp_path))
    assert model.calls == [(5, ("pool1",)), (5, ("pool1",))]   # only the missing layer runs
    model.calls.clear()
    act.extract(model, images, ["conv1"], batch_size=5, stimulus_ids=ids,
                cache_dir=str(tmp_path), preprocess=act.Preprocess(crop=12))
    assert len(model.calls) == 2                         # new preprocessing -> new cache key
    assert len(os.listdir(tmp_path)) == 2


class Overlapping(Counting):
    """Counts how many calls run at once; each call takes long enough for others to start."""

    def __init__(self, model):
        super().__init__(model)
        self.lock, self.running, self.most, self.first_alone = threading.Lock(), 0, 0, None

    def __call__(self, images, layers=None):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.first_alone is None:
                self.first_alone = self.running == 1
        time.sleep(0.1)
        try:
            return super().__call__(images, layers)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_extract_runs_in_flight_batches_at_once_and_writes_them_in_place(tmp_path, in_flight):
    model = Overlapping(_keras_model())
    images = _images(13)
    out = act.extract(model, images, ["pool1"], batch_size=2, cache_dir=str(tmp_path),
                      in_flight=in_flight)
    assert model.first_alone and model.most == in_flight and len(model.calls) == 7
    np.testing.assert_allclose(out["pool1"], model.inner(images)["pool1"], atol=1e-6)
    with pytest.raises(ValueError, match="in_flight must be >= 1"):
        act.extract(model, images, ["conv1"], cache_dir=str(tmp_path), in_flight=0)


def test_extract_from_batches_and_spatial_mean_reduction(tmp_path):
    model = act.KerasActivationModel(_keras_model())
    images = _images(6)
    out = act.extract(model, (images[i:i + 4] for i in range(0, 6, 4)), ["conv1"],
                      stimulus_ids=list("abcdef"), cache_dir=str(tmp_path), reduce="spatial_mean")
    assert out["conv1"].shape == (6, 4)
    assert np.allclose(out["conv1"], model(images)["conv1"].mean(axis=(1, 2)), atol=1e-6)
    with pytest.raises(ValueError, match="stimulus_ids"):
        act.extract(model, iter([images]), ["conv1"], cache_dir=str(tmp_path))


def test_extract_from_a_stimulus_subset(tmp_path):
    from PIL import Image

    from vvs_tf.evaluate.brainio import StimulusSet

    pixels = (_images(5) * 255).astype(np.uint8)
    os.makedirs(tmp_path / "set")
    with open(tmp_path / "set.csv", "w") as f:
        f.write("stimulus_id,filename\n" + "".join(f"s{i},{i}.png\n" for i in range(5)))
    for i in range(5):
        Image.fromarray(pixels[i]).save(tmp_path / "set" / f"{i}.png")
    view = StimulusSet(str(tmp_path / "set.csv")).subset(["s4", "s1", "s2"])
    model = act.KerasActivationModel(_keras_model())
    out = act.extract(model, view, ["layer4.1"], batch_size=2, cache_dir=str(tmp_path / "cache"))
    expected = model(pixels[[4, 1, 2]].astype(np.float32) / 255.0)["layer4.1"]
    assert np.allclose(out["layer4.1"], expected, atol=1e-6)


def test_large_layers_are_pca_reduced(tmp_path, caplog):
    model = act.KerasActivationModel(_keras_model())
    images = _images(12)
    with caplog.at_level("WARNING"):
        out = act.extract(model, images, ["conv1", "layer4.1"], cache_dir=str(tmp_path),
                          max_layer_bytes=1000, n_components=5)
    assert out["conv1"].shape == (12, 5) and out["layer4.1"].shape == (12, 4)
    assert "conv1" in caplog.text and "principal components" in caplog.text


def test_preprocessing_resize_crop_and_visual_degrees():
    images = _images(2, size=80)
    cadena = act.Preprocess(resize=70, crop=40)(images)
    resized = tf.image.resize(images, (70, 70), antialias=True).numpy()
    assert cadena.shape == (2, 40, 40, 3)
    assert np.allclose(cadena, np.clip(resized[:, 15:55, 15:55], 0, 1), atol=1e-6)
    small = act.Preprocess(image_degrees=4, model_degrees=8)(images)
    assert small.shape == images.shape
    assert np.all(small[:, :20] == 0.5) and np.all(small[:, :, 60:] == 0.5)
    assert np.allclose(small[:, 20:60, 20:60],
                       tf.image.resize(images, (40, 40), antialias=True).numpy(), atol=1e-5)
    large = act.Preprocess(image_degrees=16, model_degrees=8)(images)
    assert np.allclose(large, tf.image.resize(images[:, 20:60, 20:60], (80, 80)).numpy(), atol=1e-5)
    assert act.Preprocess(resize=70).key() != act.Preprocess(resize=70, crop=40).key()


def test_stimuli_the_model_cannot_take_are_refused(tmp_path):
    model = act.KerasActivationModel(_keras_model(size=16))
    with pytest.raises(ValueError, match="model takes"):
        act.extract(model, _images(2, size=20), cache_dir=str(tmp_path))
    out = act.extract(model, _images(2, size=20), ["layer4.1"], cache_dir=str(tmp_path),
                      preprocess=act.Preprocess(size=16))
    assert out["layer4.1"].shape == (2, 4)


def test_savedmodel_activation_signature(tmp_path):
    model = _keras_model()

    class Export(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def activations(self, images):
            out = self.model(images)
            return {"conv1": out["conv1"], "layer4_1": out["layer4.1"]}

    module = Export()
    path = str(tmp_path / "saved")
    tf.saved_model.save(module, path, signatures={"activations": module.activations})
    loaded = act.open_activation_model(path)
    assert loaded.layers == ("conv1", "layer4_1")
    os.makedirs(os.path.join(path, "assets"), exist_ok=True)
    with open(os.path.join(path, "assets", "readouts.json"), "w") as f:
        json.dump(["conv1", "layer4.1"], f)
    loaded = act.SavedModelActivationModel(path)
    assert loaded.layers == ("conv1", "layer4.1")
    images = _images(3)
    out = loaded(images)
    assert np.allclose(out["layer4.1"], model(images)["layer4.1"].numpy(), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        act.SavedModelActivationModel(str(tmp_path))


def test_savedmodel_written_by_vvs_export(tmp_path):
    from vvs_tf.exporting import export_activation_model

    model = _keras_model(size=16)
    export_activation_model(model, str(tmp_path), name="tiny")
    loaded = act.open_activation_model(str(tmp_path / "tiny"))     # latest version directory
    assert loaded.layers == ("conv1", "pool1", "layer4.1") and loaded.input_shape == (16, 16, 3)
    images = _images(2)
    out = loaded(images, layers=["layer4.1", "pool1"])
    assert np.allclose(out["pool1"], model(images)["pool1"].numpy(), atol=1e-5)


def test_serving_urls_use_the_serving_client(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "vvs_tf.serving.client", None)   # client not installed
    with pytest.raises(ImportError, match="Serving client .* not installed"):
        act.open_activation_model("grpc://localhost:8500/model")
    fake = types.ModuleType("vvs_tf.serving.client")
    fake.ServingActivationModel = lambda url: ("served", url)
    monkeypatch.setitem(sys.modules, "vvs_tf.serving.client", fake)
    import vvs_tf.serving   # the package (light); its client is the fake
    monkeypatch.setattr(vvs_tf.serving, "client", fake, raising=False)
    assert act.open_activation_model("http://host:8501/v1/models/m") == (
        "served", "http://host:8501/v1/models/m")
    with pytest.raises(FileNotFoundError, match="no activation model"):
        act.open_activation_model("/nonexistent/model")


def test_models_without_identifier_are_keyed_by_url_or_refused():
    class Served:
        url = "grpc://h:1/m"

    class Anonymous:
        pass

    assert act.model_identifier(Served()) == "url:grpc://h:1/m"
    with pytest.raises(ValueError, match="model_id"):
        act.model_identifier(Anonymous())
