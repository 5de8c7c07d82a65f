"""PredNet: two steps of the network equal its update equations written out in NumPy, the loss is
the weighted mean error of the frames after the first, training learns to predict a moving square
far better than copying the last frame, and the 12 read-outs are evaluated averaged over time."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny_video
from vvs_tf.models.prednet import build_prednet, readout_names
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.objectives.prednet import prediction_loss

FRAMES, SIZE = 4, 16


def _conv(x, layer):
    return layer(x).numpy()


def _hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)  # Keras 3's hard_sigmoid


def test_first_two_steps_follow_the_update_equations():
    keras.utils.set_random_seed(0)
    net = build_prednet(width=4, modules=2, frames=2, input_size=SIZE)
    clips = np.random.default_rng(0).random((2, 2, SIZE, SIZE, 3), dtype=np.float32)
    out = net(clips)
    conv = {n: net.get_layer(n) for n in ("module0.lstm", "module1.lstm", "module0.ahat",
                                          "module1.ahat", "module1.a")}

    def lstm(name, inputs, cell, filters):
        z = _conv(np.concatenate(inputs, -1), conv[name])
        i, f, o, c = (z[..., k * filters:(k + 1) * filters] for k in range(4))
        cell = _hard_sigmoid(f) * cell + _hard_sigmoid(i) * np.tanh(c)
        return _hard_sigmoid(o) * np.tanh(cell), cell

    def pool(x):
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    def up(x):
        return x.repeat(2, axis=1).repeat(2, axis=2)

    shapes = [(2, SIZE, SIZE, 3), (2, SIZE // 2, SIZE // 2, 4)]
    r = [np.zeros(s, np.float32) for s in shapes]
    cell = [np.zeros(s, np.float32) for s in shapes]
    e = [np.zeros(s[:3] + (2 * s[3],), np.float32) for s in shapes]
    for t in range(2):
        r[1], cell[1] = lstm("module1.lstm", [e[1], r[1]], cell[1], 4)
        r[0], cell[0] = lstm("module0.lstm", [e[0], r[0], up(r[1])], cell[0], 3)
        a = clips[:, t]
        a_hat = np.minimum(np.maximum(_conv(r[0], conv["module0.ahat"]), 0), 1)
        e[0] = np.concatenate([np.maximum(a - a_hat, 0), np.maximum(a_hat - a, 0)], -1)
        a1 = pool(np.maximum(_conv(e[0], conv["module1.a"]), 0))
        a1_hat = np.maximum(_conv(r[1], conv["module1.ahat"]), 0)
        e[1] = np.concatenate([np.maximum(a1 - a1_hat, 0), np.maximum(a1_hat - a1, 0)], -1)
        for name, value in [("module0.A", a), ("module0.R", r[0]), ("module0.E", e[0]),
                            ("module1.A", a1), ("module1.R", r[1]), ("module1.E", e[1])]:
            np.testing.assert_allclose(out[name][:, t].numpy(), value, atol=1e-5,
                                       err_msg=f"{name} at step {t}")
    assert tuple(net.readout_names) == readout_names(2)


def test_loss_weights_each_modules_mean_error_after_the_first_frame():
    rng = np.random.default_rng(1)
    errors = [rng.random((2, 5, 8, 8, 6)).astype(np.float32),
              rng.random((2, 5, 4, 4, 8)).astype(np.float32)]
    errors[0][:, 0] = 100.0  # the first frame has nothing to predict from: it must not count
    loss = prediction_loss([tf.constant(x) for x in errors], (1.0, 0.1))
    np.testing.assert_allclose(loss.numpy(), errors[0][:, 1:].mean() + 0.1 * errors[1][:, 1:].mean(),
                               rtol=1e-6)


def _config(**objective):
    c = tiny_video(base_config("prednet"))
    c.model.width = 4
    c.model.frames = FRAMES
    c.data.image_size = c.model.input_size = SIZE
    c.train.batch_size = 4
    for key, value in objective.items():
        c.objective[key] = value
    return c


def test_training_learns_to_predict_motion_and_the_evaluated_network_averages_over_time():
    keras.utils.set_random_seed(0)
    model = create_objective(_config(), DataInfo(8, 8, SIZE))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # A bright square moving right one pixel per frame: predictable from the frames before.
    clips = np.zeros((4, FRAMES, SIZE, SIZE, 3), np.float32)
    for b in range(4):
        for t in range(FRAMES):
            clips[b, t, 4 + b:8 + b, 2 + 2 * t:6 + 2 * t] = 1.0
    batch = {"clip": tf.constant(clips), "index": tf.range(4), "label": tf.zeros([4], tf.int32)}
    # Predicting no change (the last frame) or nothing (zeros) both leave mean error 1/32.
    copy_last = np.abs(clips[:, 1:] - clips[:, :-1]).mean() / 2
    assert float(model.compute_loss(batch, training=False)[0]) > 0.9 * copy_last
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=120,
              verbose=0)
    after = float(model.compute_loss(batch, training=False)[0])
    assert after < 0.25 * copy_last, (copy_last, after)  # it predicts the motion
    network = model.activation_network()
    averaged, full = network(clips), model.backbone(clips)
    assert len(network.readout_names) == 12
    for name in network.readout_names:
        np.testing.assert_allclose(averaged[name].numpy(), full[name].numpy().mean(1), atol=1e-5)


def test_configs_that_cannot_work_fail_before_training():
    info = DataInfo(8, 8, SIZE)
    with pytest.raises(ValueError, match="layer_loss_weights must be 4"):
        create_objective(_config(layer_loss_weights=(1.0, 0.0)), info)
    with pytest.raises(ValueError, match="layer_loss_weights"):
        create_objective(_config(layer_loss_weights=(0.0, 0.0, 0.0, 0.0)), info)
    with pytest.raises(ValueError, match="divisible by 8"):
        build_prednet(width=4, modules=4, frames=4, input_size=20)
