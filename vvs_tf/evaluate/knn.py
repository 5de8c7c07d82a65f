"""Weighted k-nearest-neighbour classification of embeddings (Wu et al. 2018's kNN monitor).

Each query's K most cosine-similar training embeddings vote for their labels with weight
exp(similarity / tau); the class with the largest total wins. `knn_class_scores`/`knn_predict`
are pure TensorFlow, usable inside a tf.function (the training kNN monitor calls them);
`knn_evaluate` batches NumPy inputs to bound the [queries x train] similarity matrix.
"""
import numpy as np

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
import tensorflow as tf


def knn_class_scores(train_features, train_labels, query_features, k=200, tau=0.07,
                     num_classes=None):
    """Summed vote weights per class, [Q, num_classes] float32 (TF ops only)."""
    train = tf.math.l2_normalize(tf.cast(train_features, tf.float32), axis=-1)
    query = tf.math.l2_normalize(tf.cast(query_features, tf.float32), axis=-1)
    labels = tf.cast(train_labels, tf.int32)
    if num_classes is None:
        num_classes = tf.reduce_max(labels) + 1
    num_classes = tf.cast(num_classes, tf.int32)
    k = tf.minimum(tf.cast(k, tf.int32), tf.shape(train)[0])
    similarity = tf.matmul(query, train, transpose_b=True)
    top_similarity, top_index = tf.math.top_k(similarity, k=k)
    votes = tf.exp(top_similarity / tau)
    n_query = tf.shape(query)[0]
    segment = tf.gather(labels, top_index) + num_classes * tf.range(n_query)[:, None]
    scores = tf.math.unsorted_segment_sum(tf.reshape(votes, [-1]), tf.reshape(segment, [-1]),
                                          n_query * num_classes)
    return tf.reshape(scores, [n_query, num_classes])


def knn_predict(train_features, train_labels, query_features, k=200, tau=0.07, num_classes=None):
    """Predicted class per query, int32 [Q] (TF ops only)."""
    scores = knn_class_scores(train_features, train_labels, query_features, k, tau, num_classes)
    return tf.argmax(scores, axis=-1, output_type=tf.int32)


def knn_evaluate(train_features, train_labels, query_features, query_labels=None, k=200,
                 tau=0.07, num_classes=None, batch_size=1024):
    """NumPy wrapper: predictions [Q] and, when query_labels are given, top-1 accuracy."""
    train_features = np.asarray(train_features, np.float32)
    train_labels = np.asarray(train_labels)
    if train_features.ndim != 2 or len(train_features) != len(train_labels):
        raise ValueError(f"train features {train_features.shape} and labels "
                         f"{train_labels.shape} do not match")
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    train = tf.constant(train_features)
    labels = tf.constant(train_labels.astype(np.int32))
    predictions = np.concatenate([
        knn_predict(train, labels, np.asarray(query_features[i:i + batch_size], np.float32), k, tau,
                    num_classes).numpy()
        for i in range(0, len(query_features), batch_size)]) if len(query_features) else np.zeros(0)
    result = {"predictions": predictions, "k": k, "tau": tau}
    if query_labels is not None:
        result["top1"] = float(np.mean(predictions == np.asarray(query_labels)))
    return result
