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


def test_linear_probe_reports_held_out_images_at_the_epoch_best_on_validation():
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((4, 10))
    y = rng.integers(0, 4, 900)
    x = (centres[y] + 1.5 * rng.standard_normal((900, 10)))[:, None, None, :].astype(np.float32)
    result = transfer.linear_probe(x[:500], y[:500], x[500:700], y[500:700], epochs=8,
                                   report_x=x[700:], report_y=y[700:], learning_rate=0.05)
    best = int(np.argmax(result["curve"]))
    assert result["report_top1"] == result["report_curve"][best]
    weights_free = np.mean(y[700:] == np.argmax(x[700:, 0, 0] @ centres.T, 1))
    assert abs(result["report_top1"] - weights_free) < 0.1   # a real accuracy on those images
    layers = transfer.probe_layers({"a": x}, y, np.arange(500), np.arange(500, 700),
                                   report=np.arange(700, 900), epochs=2)
    assert "report_top1" in layers["a"]


def test_layer_chosen_per_split_reports_its_held_out_score_not_the_maximum():
    from vvs_tf.evaluate.registry import _chosen_per_split

    # Three splits of two layers: the choice data favour a, a, b; the report data say otherwise.
    per_split = [{"a": {"choice": 0.9, "report": 0.1}, "b": {"choice": 0.5, "report": 0.7}},
                 {"a": {"choice": 0.8, "report": 0.2}, "b": {"choice": 0.6, "report": 0.6}},
                 {"a": {"choice": 0.4, "report": 0.3}, "b": {"choice": 0.7, "report": 0.5}}]
    layers, selected = _chosen_per_split(per_split, "choice", "report")
    assert selected["chosen_per_split"] == ["a", "a", "b"] and selected["best_layer"] == "a"
    assert selected["score"] == pytest.approx((0.1 + 0.2 + 0.5) / 3)
    assert selected["per_split"] == [0.1, 0.2, 0.5]
    assert layers["b"]["score"] == pytest.approx(0.6) and layers["a"]["choice_score"] == pytest.approx(0.7)
    # Pure-noise layers: choosing on one half and reporting on the other is unbiased, whereas
    # reporting the maximum of the choice scores is not.
    rng = np.random.default_rng(0)
    noise = [{f"l{i}": {"choice": c, "report": r} for i, (c, r) in
              enumerate(rng.standard_normal((10, 2)))} for _ in range(400)]
    _, selected = _chosen_per_split(noise, "choice", "report")
    assert abs(selected["score"]) < 3 * selected["error"]
    assert np.mean([max(v["choice"] for v in s.values()) for s in noise]) > 1.0
