import vvs_tf  # noqa: F401
import numpy as np
import tensorflow as tf

from vvs_tf.evaluate.knn import knn_class_scores, knn_evaluate, knn_predict


def _brute_force(train, labels, queries, k, tau, num_classes):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    predictions, all_scores = [], []
    for q in queries:
        sim = train @ (q / np.linalg.norm(q))
        top = np.argsort(-sim, kind="stable")[:k]
        scores = np.zeros(num_classes)
        for j in top:
            scores[labels[j]] += np.exp(sim[j] / tau)
        predictions.append(int(np.argmax(scores)))
        all_scores.append(scores)
    return np.array(predictions), np.array(all_scores)


def test_knn_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 16))
    labels = rng.integers(0, 5, 300)
    train = centres[labels] + 0.9 * rng.standard_normal((300, 16))
    query_labels = rng.integers(0, 5, 40)
    queries = centres[query_labels] + 0.9 * rng.standard_normal((40, 16))
    for k, tau in [(1, 0.07), (10, 0.1), (200, 0.07), (500, 0.5)]:
        ref_pred, ref_scores = _brute_force(train, labels, queries, min(k, 300), tau, 5)
        scores = knn_class_scores(train, labels, queries, k, tau, 5).numpy()
        assert np.allclose(scores, ref_scores, rtol=1e-4)
        assert np.array_equal(knn_predict(train, labels, queries, k, tau, 5).numpy(), ref_pred)
    result = knn_evaluate(train, labels, queries, query_labels, k=20, batch_size=7)
    ref_pred, _ = _brute_force(train, labels, queries, 20, 0.07, 5)
    assert np.array_equal(result["predictions"], ref_pred)
    assert result["top1"] == np.mean(ref_pred == query_labels) and result["top1"] > 0.6


def test_knn_runs_inside_tf_function():
    rng = np.random.default_rng(1)
    train = tf.constant(rng.standard_normal((50, 8)), tf.float32)
    labels = tf.constant(rng.integers(0, 3, 50), tf.int32)

    @tf.function
    def monitor(queries):
        return knn_predict(train, labels, queries, k=5, tau=0.07, num_classes=3)

    queries = rng.standard_normal((6, 8)).astype(np.float32)
    ref, _ = _brute_force(train.numpy(), labels.numpy(), queries, 5, 0.07, 3)
    assert np.array_equal(monitor(tf.constant(queries)).numpy(), ref)
