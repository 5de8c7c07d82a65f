"""VIE: the 3-D ResNet-18's read-outs stride time as REFERENCE.md says, clips are embedded through
their time-averaged last read-out, the exact-softmax loss over videos equals NumPy's, the evaluated
network averages every read-out over time, evaluators show it static images repeated over time
(live and exported), and the embedded video stream splits into disjoint, indexed clip sources."""
import vvs_tf  # noqa: F401

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny
from vvs_tf.data import pipeline
from vvs_tf.evaluate import activations
from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet
from vvs_tf.objectives import DataInfo, create_objective

FRAMES, SIZE, VIDEOS = 8, 32, 12


def _config(method="vie_ir"):
    c = tiny(base_config(method))
    c.model.width = 4
    c.model.frames = FRAMES
    c.train.batch_size = 4
    c.objective.nce_k = 0
    return c


def _vie():
    keras.utils.set_random_seed(0)
    return create_objective(_config(), DataInfo(VIDEOS, 3, SIZE))


def _clips(count=4, seed=0):
    return np.random.default_rng(seed).random((count, FRAMES, SIZE, SIZE, 3), dtype=np.float32)


def test_video_resnet_strides_time_from_the_pool_on():
    net = build_resnet(18, 4, SIZE, frames=16)
    shapes = {name: tuple(net.output[name].shape[1:4]) for name in net.readout_names}
    # conv1: temporal stride 1, spatial 2; pool1: 2 everywhere; stages 2-4 halve time and space.
    assert shapes == {"conv1": (16, 16, 16), "pool1": (8, 8, 8), "layer1.0": (8, 8, 8),
                      "layer1.1": (8, 8, 8), "layer2.0": (4, 4, 4), "layer2.1": (4, 4, 4),
                      "layer3.0": (2, 2, 2), "layer3.1": (2, 2, 2), "layer4.0": (1, 1, 1),
                      "layer4.1": (1, 1, 1)}
    assert net.get_layer("conv1.conv").kernel.shape[:3] == (7, 7, 7)


def test_configs_build_the_video_network_and_its_clip_length():
    vie = _vie()
    assert vie.backbone.input_shape == (None, FRAMES, SIZE, SIZE, 3)
    assert vie.example_shape() == (FRAMES, SIZE, SIZE, 3) and vie.input_key == "clip"
    assert base_config("vie_la").model.kind == "resnet3d" and base_config("ir").model.kind == "resnet"
    assert "frames" not in base_config("ir").model  # image methods' configs are unchanged


def test_loss_is_the_exact_softmax_over_videos_of_time_averaged_clip_embeddings():
    vie = _vie()
    clips = _clips()
    index = np.array([3, 0, 7, 11])
    loss, _, embeddings = vie.compute_loss(
        {"clip": tf.constant(clips), "index": tf.constant(index), "label": tf.zeros([4], tf.int32)},
        training=False)
    last = vie.backbone(clips, training=False)["layer4.1"].numpy()
    expected = vie.head(last.mean(axis=1), training=False).numpy()
    np.testing.assert_allclose(embeddings.numpy(), expected, atol=1e-5)
    logits = expected.astype(np.float64) @ vie.memory_bank.numpy().T / 0.07
    softmax_loss = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(4), index])
    np.testing.assert_allclose(loss.numpy(), softmax_loss, rtol=1e-4)


def test_evaluated_network_averages_every_readout_over_time():
    vie = _vie()
    network = vie.activation_network()
    clips = _clips(seed=1)
    averaged = network(clips, training=False)
    full = vie.backbone(clips, training=False)
    assert tuple(network.readout_names) == tuple(vie.backbone.readout_names)
    for name in network.readout_names:
        np.testing.assert_allclose(averaged[name].numpy(), full[name].numpy().mean(axis=1),
                                   atol=1e-5, err_msg=name)


def test_evaluators_show_static_images_repeated_over_time_live_and_exported(tmp_path):
    vie = _vie()
    network = vie.activation_network()
    images = np.random.default_rng(2).random((5, SIZE, SIZE, 3), dtype=np.float32)
    repeated = np.repeat(images[:, None], FRAMES, axis=1)
    expected = {k: v.numpy().reshape(5, -1)
                for k, v in network(repeated, training=False).items()}
    version_dir = export_activation_model(network, str(tmp_path / "export" / "vie"))
    for model in (activations.open_activation_model(network),
                  activations.open_activation_model(str(version_dir))):
        assert tuple(model.input_shape) == (FRAMES, SIZE, SIZE, 3)
        got = activations.extract(model, images, layers=["pool1", "layer4.1"], batch_size=2,
                                  cache_dir=str(tmp_path / "cache" / type(model).__name__))
        for layer in ("pool1", "layer4.1"):
            np.testing.assert_allclose(np.asarray(got[layer]).reshape(5, -1), expected[layer],
                                       atol=1e-5, err_msg=layer)


def test_embedded_video_splits_into_disjoint_indexed_clip_sources(tmp_path):
    from vvs_tf.data.sources import open_source

    options = dict(num_videos=20, num_frames=16, image_size=32, seed=0, validation_fraction=0.25,
                   cache_dir=str(tmp_path), clip_length=8, frame_stride=2)
    train = open_source("embedded_video", split="train", **options)
    validation = open_source("embedded_video", split="validation", **options)
    assert (train.num_examples, validation.num_examples) == (15, 5)  # every 4th video held out
    assert train.element == "clip" and train.num_classes == 8
    (root,) = [os.path.join(tmp_path, "embedded_video", d)
               for d in os.listdir(os.path.join(tmp_path, "embedded_video"))]
    with open(os.path.join(root, "train.txt")) as f:
        train_videos = {line.split()[0] for line in f}
    with open(os.path.join(root, "validation.txt")) as f:
        validation_videos = {line.split()[0] for line in f}
    assert not train_videos & validation_videos and len(train_videos | validation_videos) == 20
    stamp = os.path.getmtime(os.path.join(root, "train.txt"))
    open_source("embedded_video", split="train", **options)  # cached: not rendered again
    assert os.path.getmtime(os.path.join(root, "train.txt")) == stamp
    batches = pipeline.make_dataset(train, batch_size=5, view="ir_la", training=True, seed=0,
                                    image_size=16)
    indices = []
    for batch in batches:
        assert batch["clip"].shape == (5, 8, 16, 16, 3)
        indices.extend(batch["index"].numpy().tolist())
    assert sorted(indices) == list(range(15))
    with pytest.raises(ValueError, match="splits 'train' and 'validation'"):
        open_source("embedded_video", split="test", **options)
    with pytest.raises(ValueError, match="image_size"):  # the renderer's own check, nothing left
        open_source("embedded_video", split="train", **dict(options, image_size=8))
    assert sorted(os.listdir(os.path.join(tmp_path, "embedded_video"))) == [os.path.basename(root)]
