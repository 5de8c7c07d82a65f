"""Transfer read-outs from frozen layers: categorisation probe and object position/pose/size.

* linear_probe: softmax regression with weight decay (SGD, momentum 0.9, 10x learning-rate
  drops) on spatially pooled, standardised features; reports the best validation top-1 (the
  paper's number) and, given report images, the top-1 there at the epoch best on validation.
* property_regression: ridge regression from spatially averaged outputs to object properties
  (position ty, tz; pose; size s), alpha tuned on low/medium variation images, tested on high
  variation ones; Pearson r averaged over the targets; the best layer is chosen on one half of
  the test images and reported on the other half (selection.holdout, shared with the neural
  benchmarks).
"""
import numpy as np

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
from vvs_tf.evaluate.reduction import spatial_mean
from vvs_tf.evaluate.regression import Features, Ridge
from vvs_tf.evaluate.selection import best_layer, holdout
from vvs_tf.evaluate.stats import pearson_columns

# Pose: the two out-of-plane rotations (about the vertical and horizontal image axes; in HvM's
# convention z is up, y is right, x points out of the screen). REFERENCE.md says "rotations about
# two axes" without naming them; pass targets= to use others.
PROPERTY_TARGETS = {"position": ("ty", "tz"), "pose": ("rxy", "rxz"), "size": ("s",)}


def linear_probe(train_x, train_y, val_x, val_y, num_classes=None, weight_decay=1e-4,
                 learning_rate=0.01, momentum=0.9, epochs=30, batch_size=256,
                 lr_drops=(0.5, 0.75), seed=0, report_x=None, report_y=None):
    """Train a softmax classifier; return best validation top-1, its epoch and the curve.

    With report_x/report_y, also the top-1 on those images at the epoch best on validation
    ("report_top1"): a number that choosing the epoch did not see.
    """
    import tensorflow as tf

    train_x = spatial_mean(np.asarray(train_x, np.float32))
    val_x = spatial_mean(np.asarray(val_x, np.float32))
    train_y = np.asarray(train_y, np.int64)
    val_y = np.asarray(val_y, np.int64)
    if len(train_x) != len(train_y) or len(val_x) != len(val_y):
        raise ValueError("features and labels differ in length")
    reporting = report_x is not None
    if reporting:
        report_x = spatial_mean(np.asarray(report_x, np.float32))
        report_y = np.asarray(report_y, np.int64)
        if len(report_x) != len(report_y):
            raise ValueError("report features and labels differ in length")
    num_classes = int(num_classes or max(train_y.max(), val_y.max()) + 1)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std[std == 0] = 1.0
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std
    if reporting:
        report_x = (report_x - mean) / std

    tf.random.set_seed(seed)
    dims = train_x.shape[1]
    kernel = tf.Variable(tf.random.normal([dims, num_classes], stddev=0.01, seed=seed))
    bias = tf.Variable(tf.zeros([num_classes]))
    velocity = [tf.Variable(tf.zeros_like(v)) for v in (kernel, bias)]
    lr = tf.Variable(learning_rate, dtype=tf.float32)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = x @ kernel + bias
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
            loss += weight_decay * 0.5 * tf.reduce_sum(tf.square(kernel))
        for v, g, m in zip((kernel, bias), tape.gradient(loss, [kernel, bias]), velocity):
            m.assign(momentum * m + g)
            v.assign_sub(lr * m)

    def top1(x, y):
        return float(np.mean(np.argmax(x @ kernel.numpy() + bias.numpy(), axis=1) == y))

    rng = np.random.default_rng(seed)
    curve, report_curve = [], []
    drops = [int(f * epochs) for f in lr_drops]
    for epoch in range(epochs):
        if epoch in drops:
            lr.assign(lr * 0.1)
        order = rng.permutation(len(train_x))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            step(tf.constant(train_x[idx]), tf.constant(train_y[idx]))
        curve.append(top1(val_x, val_y))
        if reporting:
            report_curve.append(top1(report_x, report_y))
    best = int(np.argmax(curve))
    result = {"top1": curve[best], "best_epoch": best + 1, "curve": curve,
              "weight_decay": weight_decay, "learning_rate": learning_rate, "epochs": epochs}
    if reporting:
        result.update(report_top1=report_curve[best], report_curve=report_curve)
    return result


def probe_layers(activations, labels, train, val, report=None, **kwargs):
    """linear_probe for every layer of {layer: [N, ...]}, with row indices train and val (and
    report, scored at the epoch best on val)."""
    labels = np.asarray(labels)
    results = {}
    for layer, x in activations.items():
        x = np.asarray(x)
        held_out = {} if report is None else {"report_x": x[report], "report_y": labels[report]}
        results[layer] = linear_probe(x[train], labels[train], x[val], labels[val], **held_out,
                                      **kwargs)
    return results


def property_targets(metadata, task):
    """Stack the metadata columns of a task ('position', 'pose', 'size') into [N, T]."""
    if task not in PROPERTY_TARGETS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(PROPERTY_TARGETS)}")
    missing = [c for c in PROPERTY_TARGETS[task] if c not in metadata]
    if missing:
        raise ValueError(f"stimulus metadata lacks column(s) {', '.join(missing)} for {task}")
    return np.stack([np.asarray(metadata[c], np.float64) for c in PROPERTY_TARGETS[task]], axis=1)


def property_regression(activations, targets, variation, fit_variations=(0, 3),
                        test_variations=(6,), select_fraction=0.2, alphas=None, seed=0,
                        labels=None, choice_fraction=0.5):
    """Score each layer's spatial mean on predicting `targets` [N, T]; pick the best layer.

    Alpha is chosen per target on a random `select_fraction` of the fit-variation images and the
    ridge refitted on all of them; test-variation images are split (stratified by `labels`, e.g.
    object names, when given) into a layer-choice part (`choice_fraction`) and a report part.
    Returns per-layer r and the best layer's reported score.
    """
    targets = np.asarray(targets, np.float64)
    targets = targets[:, None] if targets.ndim == 1 else targets
    variation = np.asarray(variation)
    fit_rows = np.flatnonzero(np.isin(variation, fit_variations))
    test_rows = np.flatnonzero(np.isin(variation, test_variations))
    if len(fit_rows) < 4 or len(test_rows) < 4:
        raise ValueError(f"need at least 4 fit-variation and 4 test-variation images, got "
                         f"{len(fit_rows)} and {len(test_rows)}")
    rng = np.random.default_rng(seed)
    fit_rows = rng.permutation(fit_rows)
    n_select = max(2, int(round(select_fraction * len(fit_rows))))
    select, train = np.sort(fit_rows[:n_select]), np.sort(fit_rows[n_select:])
    choose, report = holdout(test_rows, choice_fraction,
                             None if labels is None else np.asarray(labels)[test_rows], rng)
    layers = {}
    for layer, x in activations.items():
        if len(x) != len(targets):
            raise ValueError(f"layer {layer} has {len(x)} rows for {len(targets)} targets")
        features = Features(spatial_mean(x))
        ridge = Ridge(alphas=alphas, refit=True).fit(features, targets, train, select)
        r_choose = pearson_columns(ridge.predict(features, choose), targets[choose])
        r_report = pearson_columns(ridge.predict(features, report), targets[report])
        layers[layer] = {"choice_r": float(np.mean(r_choose)), "score": float(np.mean(r_report)),
                         "per_target_r": r_report.tolist(), "alpha": ridge.chosen_alpha.tolist()}
    best = best_layer({k: v["choice_r"] for k, v in layers.items()})
    return {"best_layer": best, "score": layers[best]["score"], "layers": layers,
            "protocol": {"fit_variations": list(fit_variations),
                         "test_variations": list(test_variations),
                         "select_fraction": select_fraction, "seed": seed,
                         "choice_fraction": choice_fraction, "stratified": labels is not None,
                         "choice_rows": choose.tolist(), "report_rows": report.tolist(),
                         "n_fit": int(len(fit_rows)), "n_choose": int(len(choose)),
                         "n_report": int(len(report))}}
