import vvs_tf  # noqa: F401
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from vvs_tf.evaluate import transfer


def test_linear_probe_matches_logistic_regression_accuracy():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 20)) * 1.2
    y_train, y_val = rng.integers(0, 6, 600), rng.integers(0, 6, 300)
    x_train = centres[y_train] + rng.standard_normal((600, 20))
    x_val = centres[y_val] + rng.standard_normal((300, 20))
    # conv-shaped features: the probe pools them spatially
    conv = lambda x: np.tile(x[:, None, None, :], (1, 3, 3, 1)).astype(np.float32)  # noqa: E731
    result = transfer.linear_probe(conv(x_train), y_train, conv(x_val), y_val, epochs=20,
                                   batch_size=64, learning_rate=0.05)
    reference = LogisticRegression(max_iter=2000).fit(x_train, y_train).score(x_val, y_val)
    assert result["top1"] == pytest.approx(reference, abs=0.04)
    assert result["top1"] == max(result["curve"]) and len(result["curve"]) == 20
    layers = transfer.probe_layers({"a": conv(np.concatenate([x_train, x_val]))},
                                   np.concatenate([y_train, y_val]), np.arange(600),
                                   np.arange(600, 900), epochs=3)
    assert set(layers) == {"a"} and layers["a"]["top1"] > 0.5


def test_property_regression_finds_the_informative_layer():
    rng = np.random.default_rng(1)
    n = 300
    metadata = {"ty": rng.uniform(-1, 1, n), "tz": rng.uniform(-1, 1, n), "s": rng.uniform(0.5, 2, n)}
    variation = np.tile([0, 3, 6], n // 3)
    targets = transfer.property_targets(metadata, "position")
    code = np.concatenate([targets, rng.standard_normal((n, 10))], axis=1) @ rng.standard_normal((12, 16))
    good = np.tile(code[:, None, None, :], (1, 2, 2, 1)) + 0.2 * rng.standard_normal((n, 2, 2, 16))
    bad = rng.standard_normal((n, 2, 2, 16))
    result = transfer.property_regression({"bad": bad.astype(np.float32),
                                           "good": good.astype(np.float32)}, targets, variation)
    assert result["best_layer"] == "good"
    assert result["score"] > 0.9 and result["layers"]["bad"]["score"] < 0.4
    assert result["protocol"]["n_fit"] == 200 and result["protocol"]["n_report"] == 50
    with pytest.raises(ValueError, match="rxy"):
        transfer.property_targets(metadata, "pose")


def test_property_regression_halves_the_test_images_by_object():
    rng = np.random.default_rng(2)
    n = 300
    variation, objects = np.tile([0, 3, 6], n // 3), np.repeat(np.arange(5), 60)
    targets = rng.standard_normal((n, 1))
    x = (targets + 0.5 * rng.standard_normal((n, 4)))[:, None, None, :].astype(np.float32)
    result = transfer.property_regression({"x": x}, targets, variation, labels=objects, seed=3)
    choice, report = (np.array(result["protocol"][k]) for k in ("choice_rows", "report_rows"))
    assert np.array_equal(np.sort(np.concatenate([choice, report])), np.flatnonzero(variation == 6))
    assert np.all(np.bincount(objects[choice], minlength=5) == 10)   # half of each object's 20
    assert result["protocol"]["stratified"]
