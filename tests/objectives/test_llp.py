"""LLP: density weights, neighbour search and votes equal brute-force NumPy, labelled rows keep
their labels, only the labelled fraction's labels propagate, and the loss equals NumPy's
confidence-weighted aggregation plus category cross-entropy."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.objectives.clustering import inner_product_search
from vvs_tf.objectives.label_propagation import (
    LabelPropagationRound, density_log_weights, propagate_labels, vote)
from vvs_tf.objectives.supervised import labelled_subset

TAU = 0.07


def _unit_rows(n, d=8, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute_force(bank, labelled, labels, k_labelled, k_density):
    """The definition, row by row, in float64."""
    bank64 = bank.astype(np.float64)
    sims = bank64 @ bank64.T
    log_w = {}
    for row in labelled:
        others = np.sort(np.delete(sims[row], row))[::-1][:k_density]
        log_w[row] = -np.log(np.sum(np.exp(others / TAU)))
    pseudo, confidence = [], []
    for i in range(len(bank)):
        log_scores = np.array([sims[i, j] / TAU + log_w[j] for j in labelled])
        best = np.argsort(-log_scores)[:k_labelled]
        scores = np.exp(log_scores[best])
        classes = labels[best]
        means = {c: scores[classes == c].mean() for c in np.unique(classes)}
        winner = max(means, key=means.get)
        pseudo.append(winner)
        confidence.append(means[winner] / sum(means.values()))
    pseudo, confidence = np.array(pseudo), np.array(confidence)
    pseudo[labelled], confidence[labelled] = labels, 1.0
    return pseudo, confidence, np.array([log_w[j] for j in labelled])


def test_inner_product_search_finds_numpys_top_k():
    base, queries = _unit_rows(200, seed=1), _unit_rows(30, seed=2)
    scores, ids = inner_product_search(base, queries, 7)
    expected = np.argsort(-(queries @ base.T), axis=1)[:, :7]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ base.T, expected, 1), rtol=1e-5)


def test_propagation_equals_the_brute_force_definition():
    bank = _unit_rows(300)
    rng = np.random.default_rng(3)
    labelled = np.sort(rng.choice(300, 40, replace=False))
    labels = rng.integers(0, 5, 40).astype(np.int32)
    pseudo, confidence = propagate_labels(bank, labelled, labels, TAU, labelled_neighbours=10,
                                          density_neighbours=50)
    expected_pseudo, expected_confidence, expected_log_w = _brute_force(bank, labelled, labels,
                                                                        10, 50)
    np.testing.assert_allclose(density_log_weights(bank, labelled, 50, TAU), expected_log_w,
                               rtol=1e-5)
    np.testing.assert_array_equal(pseudo, expected_pseudo)
    np.testing.assert_allclose(confidence, expected_confidence, rtol=1e-4)
    assert 0.2 < confidence[np.setdiff1d(np.arange(300), labelled)].mean() < 1.0


def test_vote_takes_the_highest_mean_not_the_most_votes():
    # One neighbour of class 7 at score e^0 beats three of class 2 at e^-1: mean 1 > mean 0.37.
    log_scores = np.array([[0.0, -1.0, -1.0, -1.0]])
    labels, shares = vote(log_scores, np.array([[7, 2, 2, 2]]))
    assert labels[0] == 7
    np.testing.assert_allclose(shares[0], 1.0 / (1.0 + np.exp(-1.0)))


def test_nothing_propagates_without_labelled_rows():
    pseudo, confidence = propagate_labels(_unit_rows(20), [], [], TAU, 10, 5)
    assert (pseudo == -1).all() and (confidence == 0).all()


def _config(**objective):
    c = tiny(base_config("llp"))
    c.model.width = 4
    c.train.batch_size = 8
    c.objective.label_fraction = 0.25
    c.objective.density_neighbours = 5
    c.objective.labelled_neighbours = 3
    for key, value in objective.items():
        c.objective[key] = value
    return c


def _llp(num_examples=32, **objective):
    keras.utils.set_random_seed(0)
    model = create_objective(_config(**objective), DataInfo(num_examples, 4, 32))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def test_round_propagates_only_the_labelled_fractions_labels():
    llp = _llp()
    truth = np.arange(32, dtype=np.int32) % 4
    llp.bank_labels.assign(truth)
    LabelPropagationRound(llp).on_epoch_begin(0)
    first = llp.pseudo_labels.numpy(), llp.confidence.numpy()
    labelled = labelled_subset(32, 0.25, 0)
    np.testing.assert_array_equal(labelled, llp.labelled_rows)
    np.testing.assert_array_equal(first[0][labelled], truth[labelled])
    np.testing.assert_array_equal(first[1][labelled], 1.0)
    expected, _ = propagate_labels(llp.memory_bank.numpy(), labelled, truth[labelled], TAU, 3, 5)
    np.testing.assert_array_equal(first[0], expected)
    # The unlabelled examples' own labels never enter: changing them changes nothing.
    scrambled = truth.copy()
    scrambled[np.setdiff1d(np.arange(32), labelled)] = 3
    llp.bank_labels.assign(scrambled)
    LabelPropagationRound(llp).on_epoch_begin(1)
    np.testing.assert_array_equal(llp.pseudo_labels.numpy(), first[0])
    np.testing.assert_array_equal(llp.confidence.numpy(), first[1])


def test_loss_is_confidence_weighted_aggregation_plus_category_cross_entropy():
    llp = _llp(category_weight=0.5)
    rng = np.random.default_rng(4)
    pseudo = rng.integers(0, 4, 32).astype(np.int32)
    pseudo[[3, 9]] = -1  # no pseudo-label yet (one of them in the batch)
    confidence = np.where(pseudo >= 0, rng.uniform(0.3, 1.0, 32), 0.0).astype(np.float32)
    llp.pseudo_labels.assign(pseudo)
    llp.confidence.assign(confidence)
    index = np.array([0, 3, 5, 8, 13, 21, 27, 31])
    assert (pseudo[index] == -1).any() and (pseudo[index] >= 0).any()
    images = rng.random((8, 32, 32, 3), dtype=np.float32)
    batch = {"image": tf.constant(images), "index": tf.constant(index),
             "label": tf.zeros([8], tf.int32)}
    loss, extras, embeddings = llp.compute_loss(batch, training=False)

    features = llp.backbone(images, training=False)[llp.backbone.readout_names[-1]]
    v = llp.head(features, training=False).numpy().astype(np.float64)
    category_logits = llp.classifier(features, training=False).numpy().astype(np.float64)
    logits = v @ llp.memory_bank.numpy().astype(np.float64).T / TAU
    aggregation, category = [], []
    for row, i in enumerate(index):
        if pseudo[i] < 0:
            aggregation.append(0.0)
            category.append(0.0)
            continue
        same = pseudo == pseudo[i]
        log_all = np.log(np.exp(logits[row]).sum())
        aggregation.append(confidence[i] * (log_all - np.log(np.exp(logits[row, same]).sum())))
        p = np.exp(category_logits[row]) / np.exp(category_logits[row]).sum()
        category.append(confidence[i] * -np.log(p[pseudo[i]]))
    np.testing.assert_allclose(extras["aggregation"].numpy(), np.mean(aggregation), rtol=1e-4)
    np.testing.assert_allclose(extras["category"].numpy(), np.mean(category), rtol=1e-4)
    np.testing.assert_allclose(loss.numpy(), np.mean(aggregation) + 0.5 * np.mean(category),
                               rtol=1e-4)
    np.testing.assert_allclose(embeddings.numpy(), v, atol=1e-5)


def test_training_with_propagated_labels_lowers_the_loss():
    llp = _llp()
    llp.bank_labels.assign(np.arange(32, dtype=np.int32) % 4)
    LabelPropagationRound(llp).on_epoch_begin(0)
    rng = np.random.default_rng(5)
    batch = {"image": tf.constant(rng.random((8, 32, 32, 3), dtype=np.float32)),
             "index": tf.range(8, dtype=tf.int64), "label": tf.constant(np.arange(8) % 4)}
    bank0 = llp.memory_bank.numpy()
    before = float(llp.compute_loss(batch, training=True)[0])
    history = llp.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=8,
                      verbose=0).history
    assert np.isfinite(history["loss"]).all()
    llp.memory_bank.assign(bank0)  # against the same bank: its rows moved towards the batch too
    after = float(llp.compute_loss(batch, training=True)[0])
    assert after < 0.8 * before, (before, after)


def test_configs_that_cannot_work_fail_before_training():
    for objective, message in [(dict(labelled_neighbours=0), "labelled_neighbours"),
                               (dict(density_neighbours=32), "density_neighbours=32"),
                               (dict(category_weight=-1.0), "category_weight"),
                               (dict(label_fraction=0.0), "label fraction")]:
        with pytest.raises(ValueError, match=message):
            create_objective(_config(**objective), DataInfo(32, 4, 32))


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_share_the_few_label_controls_labels(family):
    config = importlib.import_module(f"configs.{family}.llp").get_config()
    control = importlib.import_module(f"configs.{family}.few_label").get_config()
    validate(config)
    assert config.objective.label_fraction == control.objective.label_fraction
    assert (config.objective.labelled_neighbours, config.objective.density_neighbours) == (10, 50)
