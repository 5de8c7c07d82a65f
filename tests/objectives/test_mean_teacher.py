"""Mean Teacher: the loss equals NumPy's (labelled cross-entropy over the batch plus the ramped
softmax-MSE consistency), the teacher follows the EMA formula with its early-step decay, the teacher
is what gets evaluated, and configs that cannot work are refused."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.objectives.mean_teacher import sigmoid_rampup, teacher_decay
from vvs_tf.objectives.supervised import labelled_subset

NUM, SIZE, CLASSES, EXAMPLES = 8, 32, 4, 32


def _config(**objective):
    c = tiny(base_config("mean_teacher"))
    c.model.width = 4
    c.train.batch_size = NUM
    for key, value in objective.items():
        c.objective[key] = value
    return c


def _teacher(**objective):
    keras.utils.set_random_seed(0)
    model = create_objective(_config(**objective), DataInfo(EXAMPLES, CLASSES, SIZE))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((NUM, SIZE, SIZE, 3), dtype=np.float32)
    second = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)
    return {"views": tf.constant(np.stack([base, second], 1)),
            "index": tf.constant(rng.permutation(EXAMPLES)[:NUM].astype(np.int64)),
            "label": tf.constant(rng.integers(0, CLASSES, NUM).astype(np.int32))}


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_sigmoid_rampup_is_exp_of_minus_5_one_minus_t_squared():
    progress = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 3.0], np.float32)
    t = np.clip(progress, 0, 1)
    np.testing.assert_allclose(sigmoid_rampup(progress).numpy(), np.exp(-5 * (1 - t) ** 2),
                               rtol=1e-6)


def test_teacher_decay_averages_evenly_before_reaching_the_configured_decay():
    steps = np.array([1, 2, 3, 9, 10**6])
    expected = np.minimum(1 - 1 / (steps + 1), 0.99)
    np.testing.assert_allclose(teacher_decay(steps, 0.99).numpy(), expected, rtol=1e-6)


def test_loss_is_labelled_cross_entropy_plus_ramped_consistency():
    model = _teacher(label_fraction=0.5, consistency_weight=3.0, consistency_rampup_epochs=2.0)
    model.optimizer.iterations.assign(3)  # 3 of the ramp-up's 2 * (32 // 8) = 8 steps
    batch = _batch()
    loss, extras, _ = model.compute_loss(batch, training=False)

    student = model.logits(model.backbone, model.classifier, batch["views"][:, 0], False).numpy()
    teacher = model.logits(model.teacher_backbone, model.teacher_classifier,
                           batch["views"][:, 1], False).numpy()
    labelled = np.isin(batch["index"].numpy(), labelled_subset(EXAMPLES, 0.5, 0))
    assert 0 < labelled.sum() < NUM  # the batch mixes labelled and unlabelled images
    p = _softmax(student.astype(np.float64))
    nll = -np.log(p[np.arange(NUM), batch["label"].numpy()])
    cross_entropy = np.sum(nll * labelled) / NUM
    consistency = np.mean(np.sum((p - _softmax(teacher.astype(np.float64))) ** 2, 1) / CLASSES)
    weight = 3.0 * np.exp(-5 * (1 - 3 / 8) ** 2)
    np.testing.assert_allclose(extras["cross_entropy"].numpy(), cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(extras["consistency"].numpy(), consistency, rtol=1e-4)
    np.testing.assert_allclose(extras["consistency_weight"].numpy(), weight, rtol=1e-6)
    np.testing.assert_allclose(loss.numpy(), cross_entropy + weight * consistency, rtol=1e-5)


def test_teacher_starts_as_the_student_and_follows_the_ema_formula():
    model = _teacher(ema_decay=0.9)
    pairs = list(zip(model.teacher_backbone.weights + model.teacher_classifier.weights,
                     model.backbone.weights + model.classifier.weights))
    followed = [(t, s) for t, s in pairs if s.trainable]
    for t, s in followed:
        np.testing.assert_array_equal(t.numpy(), s.numpy())
    assert not {id(v) for v in model.trainable_variables} & {id(t) for t, _ in pairs}
    batch = _batch(1)
    for step, decay in [(1, 0.5), (2, 2 / 3)]:  # min(1 - 1/(step + 1), 0.9)
        before = [t.numpy() for t, _ in followed]
        model.train_step(batch)
        assert int(model.optimizer.iterations.numpy()) == step
        for (t, s), t0 in zip(followed, before):
            np.testing.assert_allclose(t.numpy(), decay * t0 + (1 - decay) * s.numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=t.path)
    moved = [not np.allclose(t.numpy(), s.numpy()) for t, s in followed]
    assert sum(moved) > len(followed) // 2  # the student moved away from its average


def test_the_teacher_is_the_evaluated_network():
    model = _teacher()
    images = _batch()["views"][:, 0]
    embedding = model.embed(images).numpy()
    assert model.activation_network() is model.teacher_backbone
    for variable in model.backbone.trainable_weights:  # the student changes, the teacher does not
        variable.assign(variable + 0.5)
    np.testing.assert_allclose(model.embed(images).numpy(), embedding, atol=1e-6)
    model.on_warm_start()  # a warm-started student becomes the teacher again
    for t, s in zip(model.teacher_backbone.trainable_weights, model.backbone.trainable_weights):
        np.testing.assert_array_equal(t.numpy(), s.numpy())


def test_training_lowers_the_labelled_cross_entropy():
    model = _teacher(label_fraction=1.0)
    batch = _batch(2)
    before = float(model.compute_loss(batch, training=True)[1]["cross_entropy"])
    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=8,
                        verbose=0).history
    assert np.isfinite(history["loss"][-1]) and np.isfinite(history["consistency"][-1])
    after = float(model.compute_loss(batch, training=True)[1]["cross_entropy"])
    assert after < 0.5 * before, (before, after)


def test_configs_that_cannot_work_fail_before_training():
    info = DataInfo(EXAMPLES, CLASSES, SIZE)
    for objective, message in [(dict(ema_decay=1.0), "ema_decay"),
                               (dict(consistency_weight=-1.0), "consistency_weight"),
                               (dict(consistency_rampup_epochs=-1.0), "consistency_rampup_epochs"),
                               (dict(label_fraction=0.0), "label fraction")]:
        with pytest.raises(ValueError, match=message):
            create_objective(_config(**objective), info)


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_share_the_few_label_controls_labels(family):
    config = importlib.import_module(f"configs.{family}.mean_teacher").get_config()
    control = importlib.import_module(f"configs.{family}.few_label").get_config()
    validate(config)
    assert config.objective.label_fraction == control.objective.label_fraction
    assert config.seed == control.seed and config.optimizer.nesterov
    assert config.objective.consistency_weight == 10.0
    if family == "imagenet":
        assert config.objective.ema_decay == 0.9997
