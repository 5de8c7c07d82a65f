"""The activation SavedModel reproduces the live backbone, layer by layer and through every
signature, and is written atomically under the next version number."""
import vvs_tf  # noqa: F401

import io
import json
import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vvs_tf.exporting import (export_activation_model, next_version, read_readouts, signature_key,
                              weights_fingerprint)
from vvs_tf.models.readouts import READOUT_LAYERS
from vvs_tf.models.resnet import IMAGENET_MEAN, IMAGENET_STD


def _png(array_uint8):
    buffer = io.BytesIO()
    Image.fromarray(array_uint8).save(buffer, format="PNG")
    return buffer.getvalue()


def test_activations_equal_live_model_for_every_layer(tiny_backbone, tiny_export, rng):
    path, loaded = tiny_export
    images = rng.random((5, 32, 32, 3), dtype=np.float32)
    live = tiny_backbone(images, training=False)
    served = loaded.signatures["activations"](images=tf.constant(images))
    assert set(served) == {name.replace(".", "_") for name in READOUT_LAYERS}
    for name in READOUT_LAYERS:
        np.testing.assert_allclose(served[signature_key(name)].numpy(), live[name].numpy(),
                                   atol=1e-5, err_msg=name)
    # one signature per layer gives the same tensor alone
    for name in READOUT_LAYERS:
        key = signature_key(name)
        single = loaded.signatures[f"layer_{key}"](images=tf.constant(images))
        assert list(single) == [key]
        np.testing.assert_allclose(single[key].numpy(), live[name].numpy(), atol=1e-5,
                                   err_msg=name)


def test_serving_default_is_spatial_mean_of_last_layer(tiny_backbone, tiny_export, rng):
    _, loaded = tiny_export
    images = rng.random((3, 32, 32, 3), dtype=np.float32)
    expected = tiny_backbone(images, training=False)["layer4.1"].numpy().mean(axis=(1, 2))
    embedding = loaded.signatures["serving_default"](images=tf.constant(images))["embedding"]
    assert embedding.shape == (3, 64)
    np.testing.assert_allclose(embedding.numpy(), expected, atol=1e-5)


def test_encoded_images_are_decoded_to_unit_range_and_resized(tiny_backbone, tiny_export, rng):
    _, loaded = tiny_export
    pixels = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    # a PNG at the model's size is exactly the float image pixels / 255
    encoded = tf.constant([_png(p) for p in pixels])
    served = loaded.signatures["activations_encoded"](image_bytes=encoded)
    live = tiny_backbone(pixels.astype(np.float32) / 255.0, training=False)
    for name in READOUT_LAYERS:
        np.testing.assert_allclose(served[signature_key(name)].numpy(), live[name].numpy(),
                                   atol=1e-5, err_msg=name)
    # a flat colour at another size stays that colour once resized to 32x32
    colour = np.array([200, 40, 90], np.uint8)
    flat = _png(np.broadcast_to(colour, (45, 27, 3)).copy())
    embedding = loaded.signatures["serving_encoded"](image_bytes=tf.constant([flat]))["embedding"]
    expected = tiny_backbone(np.broadcast_to(colour / 255.0, (1, 32, 32, 3)).astype(np.float32),
                             training=False)["layer4.1"].numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(embedding.numpy(), expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["activations_encoded"](image_bytes=tf.constant([b"not an image"]))


def test_assets_describe_layers_input_preprocessing_and_config(tiny_backbone, tiny_export, rng):
    path, loaded = tiny_export
    info = read_readouts(path)
    assert info["layers"] == list(READOUT_LAYERS)
    assert info["signature_keys"]["layer3.1"] == "layer3_1"
    assert info["input_shape"] == [32, 32, 3]
    assert info["config"] == {"method": "ir", "model": {"width": 8}, "seed": 11}
    norm = info["preprocessing"]["normalisation"]
    np.testing.assert_allclose(norm["mean"], IMAGENET_MEAN, atol=1e-6)
    np.testing.assert_allclose(norm["std"], IMAGENET_STD, atol=1e-6)
    assert info["preprocessing"]["value_range"] == [0.0, 1.0]
    assert info["preprocessing"]["eval_resize"] == 36
    live = tiny_backbone(rng.random((1, 32, 32, 3), dtype=np.float32), training=False)
    assert info["layer_shapes"] == {n: list(live[n].shape[1:]) for n in READOUT_LAYERS}
    assert info["model"]["num_parameters"] == tiny_backbone.count_params()
    assert info["model"]["weights_sha256"] == weights_fingerprint(tiny_backbone)
    assert info["model"]["embedding_dim"] == 64
    # the readouts signature carries the same JSON for clients that only see signatures
    served = loaded.signatures["readouts"](images=tf.zeros([1]))["readouts_json"].numpy()
    assert json.loads(served.decode()) == info
    # TF Serving's warm-up file holds one PredictionLog per warmed signature
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")).as_numpy_iterator())
    signatures = [prediction_log_pb2.PredictionLog.FromString(r).predict_log.request.model_spec
                  .signature_name for r in records]
    assert signatures == ["serving_default", "activations"]


def test_versions_count_up_and_never_overwrite(micro_backbone, tmp_path, rng):
    model_dir = tmp_path / "micro"
    first = export_activation_model(micro_backbone, str(tmp_path), "micro")
    second = export_activation_model(micro_backbone, str(model_dir))  # name=None: output_base is
    assert (first, second) == (str(model_dir / "1"), str(model_dir / "2"))  # the model directory
    assert next_version(str(model_dir)) == 3
    assert export_activation_model(micro_backbone, str(model_dir), version=7).endswith("/7")
    with pytest.raises(FileExistsError, match="micro/7"):
        export_activation_model(micro_backbone, str(model_dir), version=7)
    assert sorted(os.listdir(model_dir)) == ["1", "2", "7"]  # no temp directories left behind
    loaded = tf.saved_model.load(second)
    images = rng.random((2, 8, 8, 3), dtype=np.float32)
    out = loaded.signatures["activations"](images=tf.constant(images))
    assert set(out) == {"a", "b_1"}
    np.testing.assert_allclose(out["b_1"].numpy(), micro_backbone(images)["b.1"].numpy(), atol=1e-5)


def test_export_log_omits_the_captured_variable_renames(micro_backbone, tmp_path, caplog):
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)  # what absl binaries such as vvs-main run at
    try:
        with caplog.at_level(logging.INFO):
            export_activation_model(micro_backbone, str(tmp_path), "m")
    finally:
        absl_logging.set_verbosity(verbosity)
    assert any("Assets written" in r.getMessage() for r in caplog.records)  # INFO is captured
    assert not [r for r in caplog.records if "will be renamed" in r.getMessage()]
    assert not logging.getLogger("absl").filters  # the filter lives for the save only


def test_failed_export_leaves_no_version_and_no_temp_dir(micro_backbone, tmp_path, monkeypatch):
    real_save = tf.saved_model.save
    written = []

    def save_then_fail(obj, export_dir, **kwargs):
        real_save(obj, export_dir, **kwargs)
        written.append(os.listdir(export_dir))
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_activation_model(micro_backbone, str(tmp_path), "micro")
    assert "saved_model.pb" in written[0]  # a complete SavedModel had been staged ...
    assert os.listdir(tmp_path / "micro") == []  # ... and neither it nor a version remains


def test_layer_subset_head_and_fixed_size(tmp_path, rng):
    keras.utils.set_random_seed(2)
    x = inputs = keras.Input((None, None, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = keras.layers.Conv2D(5, 3, strides=2, padding="same", name="b")(a)
    backbone = keras.Model(inputs, {"a": a, "b": b})
    head = keras.Sequential([keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    full = keras.Model(inputs, head(b))
    path = export_activation_model(backbone, str(tmp_path / "m"), layers=["b"], embedding_fn=full,
                                   input_shape=(12, 12, 3))
    loaded = tf.saved_model.load(path)
    images = rng.random((2, 12, 12, 3), dtype=np.float32)
    assert list(loaded.signatures["activations"](images=tf.constant(images))) == ["b"]
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](images=tf.constant(images))["embedding"].numpy(),
        full(images).numpy(), atol=1e-5)
    assert read_readouts(path)["input_shape"] == [12, 12, 3]
    with pytest.raises(ValueError, match="not outputs of the backbone"):
        export_activation_model(backbone, str(tmp_path / "m"), layers=["c"])
    with pytest.raises(ValueError, match="does not fit"):
        export_activation_model(backbone, str(tmp_path / "m"), input_shape=(12, 12, 1))


def test_video_backbone_exports_clips(tmp_path, rng):
    """[B, T, H, W, C] inputs: activations, the time-and-space pooled embedding, and [B, T]
    encoded frames."""
    keras.utils.set_random_seed(3)
    x = inputs = keras.Input((4, 16, 16, 3), name="clips")
    a = keras.layers.Conv3D(4, 3, padding="same", activation="relu", name="conv1")(x)
    b = keras.layers.Conv3D(6, 3, strides=(1, 2, 2), padding="same", name="layer1.0")(a)
    video = keras.Model(inputs, {"conv1": a, "layer1.0": b})
    path = export_activation_model(video, str(tmp_path), "video")
    loaded = tf.saved_model.load(path)
    clips = rng.integers(0, 256, (2, 4, 16, 16, 3), dtype=np.uint8)
    floats = clips.astype(np.float32) / 255.0
    live = video(floats)
    served = loaded.signatures["activations"](images=tf.constant(floats))
    np.testing.assert_allclose(served["layer1_0"].numpy(), live["layer1.0"].numpy(), atol=1e-5)
    embedding = loaded.signatures["serving_default"](images=tf.constant(floats))["embedding"]
    np.testing.assert_allclose(embedding.numpy(), live["layer1.0"].numpy().mean(axis=(1, 2, 3)),
                               atol=1e-5)
    frames = tf.constant([[_png(frame) for frame in clip] for clip in clips])
    assert frames.shape == (2, 4)
    decoded = loaded.signatures["activations_encoded"](image_bytes=frames)
    np.testing.assert_allclose(decoded["layer1_0"].numpy(), live["layer1.0"].numpy(), atol=1e-5)
    assert read_readouts(path)["preprocessing"]["layout"] == "BTHWC"
