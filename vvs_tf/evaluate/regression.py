"""Read-outs from a layer's activations to neural responses: factorised mask, PLS and ridge.

All three share one interface so that neural.py treats them alike:
    reg.fit(features, y, train, select=None) -> reg      y: [N, neurons], NaN = not recorded
    reg.predict(features, rows) -> [len(rows), neurons]
    reg.hyperparameters() -> JSON-able dict of what was chosen
`features` is a `Features` (or any [N, ...] array / memmap) and `train`, `select`, `rows` are row
indices into it, so no subset of the activations is ever copied. Neurons with NaNs are fitted on
their own finite rows only (grouped by NaN pattern), so a missing value never spreads.

* MaskRegression: the factorised spatial x channel read-out of Klindt et al. 2017 used by Zhuang et
  al. 2021, r_hat = sum_ij ms[i,j] * sum_k mc[k] x[i,j,k] + b, trained with Adam (eps 0.1) on
  MSE + w(|ms|^2 + |mc|^2) [- batch Pearson r], for all neurons and all w in one TF graph; w is
  chosen per neuron by Pearson r on the selection rows.
* PLS: Brain-Score's partial least squares (25 components), kernel form of sklearn's NIPALS so it
  works from the N x N Gram matrix of a streamed layer.
* Ridge: closed form from one eigendecomposition of the Gram matrix for a whole grid of alphas,
  alpha chosen per neuron on the selection rows (or by exact leave-one-out without them).
"""
import logging
import time

import numpy as np

import vvs_tf  # noqa: F401  (switches on oneDNN before TensorFlow loads)
from vvs_tf.evaluate import streaming
from vvs_tf.evaluate.stats import pearson_columns

log = logging.getLogger(__name__)


class Features:
    """A layer's activations [N, ...] (array or memmap) with its Gram matrix cached once."""

    def __init__(self, x, block_bytes=streaming.DEFAULT_BLOCK_BYTES):
        if isinstance(x, Features):
            x = x.x
        self.x = x
        self.matrix = streaming.as_matrix(x)
        self.block_bytes = block_bytes
        self._gram = None

    @property
    def n(self):
        return self.matrix.shape[0]

    @property
    def d(self):
        return self.matrix.shape[1]

    def gram(self):
        """(X - mean) (X - mean)^T over all rows, float64 [N, N]; one streamed pass, then cached."""
        if self._gram is None:
            self._gram = streaming.gram(self.matrix, block_bytes=self.block_bytes)
        return self._gram


def as_features(x):
    return x if isinstance(x, Features) else Features(x)


def _rows(rows, n, what):
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    rows = rows.astype(np.int64)
    if rows.ndim != 1 or len(rows) == 0:
        raise ValueError(f"{what} rows must be a non-empty 1-D index array")
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"{what} rows index outside the {n} rows of the activations")
    return rows


def _check_targets(features, y):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != features.n:
        raise ValueError(f"targets must be [{features.n}, neurons] to match the activations, "
                         f"got {y.shape}")
    return y


def nan_groups(y_train):
    """Group target columns by their pattern of finite training rows.

    Returns a list of (columns, finite-row mask); columns with fewer than 3 finite rows are left
    out (they cannot be fitted and are predicted as NaN).
    """
    finite = np.isfinite(y_train)
    patterns, inverse = np.unique(finite.T, axis=0, return_inverse=True)
    groups = []
    for g, pattern in enumerate(patterns):
        if pattern.sum() >= 3:
            groups.append((np.flatnonzero(inverse.ravel() == g), pattern))
    return groups


def _double_centre(k):
    row = k.mean(axis=0)
    return k - row[None, :] - row[:, None] + row.mean()


def _centred_cross(gram, rows_a, rows_s):
    """(X_a - mu_S)(X_S - mu_S)^T from the globally centred Gram; mu_S = mean of rows S."""
    g_as = gram[np.ix_(rows_a, rows_s)]
    g_ss_mean = gram[np.ix_(rows_s, rows_s)].mean(axis=0)
    return g_as - g_ss_mean[None, :] - g_as.mean(axis=1, keepdims=True) + g_ss_mean.mean()


class LinearReadout:
    """y = x @ weights + bias on flattened activations; predicted by streaming row blocks."""

    def __init__(self, weights, bias):
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float64)

    def predict(self, features, rows):
        features = as_features(features)
        rows = _rows(rows, features.n, "predict")
        return streaming.times(features.matrix, self.weights, rows, features.block_bytes) + self.bias

    @classmethod
    def from_dual(cls, features, n_targets, fits):
        """Primal weights from dual solutions, in one streamed pass over the fitted rows.

        fits: list of (columns, rows S, B [|S|, len(columns)], y_mean [len(columns)],
        column_scale [D] or None), meaning y_hat = ((x - mu_S) / scale) @ X_S,c^T B + y_mean,
        where X_S,c is X_S centred (and scaled) by the statistics of S.
        """
        all_rows = np.unique(np.concatenate([f[1] for f in fits]))
        n_groups = len(fits)
        b_full = np.zeros((len(all_rows), n_targets), np.float32)
        averaging = np.zeros((len(all_rows), n_groups), np.float32)
        group_of = np.full(n_targets, -1)
        for g, (cols, rows, b, _, _) in enumerate(fits):
            pos = np.searchsorted(all_rows, rows)
            b_full[np.ix_(pos, cols)] = b
            averaging[pos, g] = 1.0 / len(rows)
            group_of[cols] = g
        fitted = np.flatnonzero(group_of >= 0)
        b_sums = b_full.sum(axis=0, dtype=np.float64)
        weights = np.zeros((features.d, n_targets), np.float32)
        bias = np.full(n_targets, np.nan)
        bias[fitted] = 0.0
        for cols, block in streaming.column_blocks(features.matrix, all_rows, features.block_bytes):
            means = (block.T @ averaging).astype(np.float64)      # [b, groups]: mu_S per group
            w = (block.T @ b_full).astype(np.float64)
            w[:, fitted] -= means[:, group_of[fitted]] * b_sums[fitted]
            for gcols, _, _, _, scale in fits:
                if scale is not None:
                    w[:, gcols] /= scale[cols, None] ** 2      # one for X_S,c^T, one for x
            weights[cols] = w
            bias[fitted] -= np.einsum("bn,bn->n", means[:, group_of[fitted]], w[:, fitted])
        for cols, _, _, y_mean, _ in fits:
            bias[cols] += y_mean
        return cls(weights, bias)


def _choose(score, larger_is_better=True):
    """Index of the best grid value per target from [grid, targets] scores (NaN = worst)."""
    s = np.where(np.isfinite(score), score, -np.inf if larger_is_better else np.inf)
    return np.argmax(s, axis=0) if larger_is_better else np.argmin(s, axis=0)


class Ridge:
    """Ridge regression with intercept for a grid of alphas from one eigendecomposition.

    alphas: absolute penalties; None uses `relative_alphas` times the mean eigenvalue of the
    training Gram matrix (activations differ in scale by orders of magnitude across layers).
    Alpha is chosen per target by Pearson r on the selection rows, or, without them, by exact
    leave-one-out squared error (as sklearn's RidgeCV). refit=True refits on train + select.
    """

    def __init__(self, alphas=None, relative_alphas=np.logspace(-5, 3, 17), refit=False):
        self.alphas = None if alphas is None else np.atleast_1d(np.asarray(alphas, np.float64))
        self.relative_alphas = np.asarray(relative_alphas, np.float64)
        self.refit = refit
        self.chosen_alpha = None
        self.readout = None

    def _grid(self, eigenvalues):
        if self.alphas is not None:
            return self.alphas
        return self.relative_alphas * max(eigenvalues.mean(), np.finfo(float).tiny)

    def fit(self, features, y, train, select=None):
        features = as_features(features)
        y = _check_targets(features, y)
        train = _rows(train, features.n, "train")
        select = None if select is None else _rows(select, features.n, "select")
        gram = features.gram()
        self.chosen_alpha = np.full(y.shape[1], np.nan)
        fits = []
        for cols, finite in nan_groups(y[train]):
            rows = train[finite]
            k = _centred_cross(gram, rows, rows)
            lam, u = np.linalg.eigh(k)
            lam = np.clip(lam, 0.0, None)
            y_s = y[np.ix_(rows, cols)]
            y_mean = y_s.mean(axis=0)
            uty = u.T @ (y_s - y_mean)
            grid = self._grid(lam)
            if len(grid) == 1:
                best = np.zeros(len(cols), np.int64)
            elif select is not None:
                k_sel_u = _centred_cross(gram, select, rows) @ u
                r = np.stack([pearson_columns(k_sel_u @ (uty / (lam[:, None] + a)) + y_mean,
                                              y[np.ix_(select, cols)]) for a in grid])
                best = _choose(r)
            else:
                mse = []
                for a in grid:
                    shrink = lam / (lam + a)
                    hat = 1.0 / len(rows) + (u * u) @ shrink
                    resid = (y_s - y_mean) - u @ (uty * shrink[:, None])
                    mse.append(np.mean((resid / (1.0 - hat)[:, None]) ** 2, axis=0))
                best = _choose(np.stack(mse), larger_is_better=False)
            alpha = grid[best]
            self.chosen_alpha[cols] = alpha
            if self.refit and select is not None:
                rows = np.union1d(train, select)
                rows = rows[np.isfinite(y[np.ix_(rows, cols)]).all(axis=1)]
                lam, u = np.linalg.eigh(_centred_cross(gram, rows, rows))
                lam = np.clip(lam, 0.0, None)
                y_s = y[np.ix_(rows, cols)]
                y_mean = y_s.mean(axis=0)
                uty = u.T @ (y_s - y_mean)
            b = u @ (uty / (lam[:, None] + alpha[None, :]))
            fits.append((cols, rows, b, y_mean, None))
        if not fits:
            raise ValueError("no target has 3 or more finite training rows")
        self.readout = LinearReadout.from_dual(features, y.shape[1], fits)
        return self

    def predict(self, features, rows):
        if self.readout is None:
            raise ValueError("Ridge.predict called before fit")
        return self.readout.predict(features, rows)

    def hyperparameters(self):
        return {"method": "ridge", "alpha": self.chosen_alpha.tolist(), "refit": self.refit}


class PLS:
    """Partial least squares regression (sklearn's PLSRegression, NIPALS) in kernel form.

    Each component's x-weights are the top singular vector of X_k^T Y_k, found exactly from the
    eigenvector of Y_k^T K_k Y_k; deflation acts on the Gram matrix K, so the activations are
    read only to build K and the final weights. scale=False is Brain-Score's setting.
    """

    def __init__(self, n_components=25, scale=False):
        self.n_components = n_components
        self.scale = scale
        self.readout = None
        self.components_used = None

    def _kernel(self, features, rows):
        if not self.scale:
            return _centred_cross(features.gram(), rows, rows), None
        mean, std = streaming.column_moments(features.matrix, rows, features.block_bytes)
        std[std == 0] = 1.0
        return streaming.gram(features.matrix, rows, mean, std, features.block_bytes), std

    def _dual(self, k, y_c):
        n = k.shape[0]
        n_comp = min(self.n_components, n - 1)
        k_def, y_def = k.copy(), y_c.copy()
        scores, directions = [], []
        for _ in range(n_comp):
            cov = y_def.T @ (k_def @ y_def)
            evals, evecs = np.linalg.eigh(cov)
            if evals[-1] <= 1e-12 * max(np.trace(k), 1e-300):
                break  # Y (or X) is fully explained: no further component
            u = y_def @ evecs[:, -1]
            t = k_def @ u
            t /= np.linalg.norm(t)
            if scores:
                tt = np.stack(scores, axis=1)
                u = u - tt @ (tt.T @ u)
            scores.append(t)
            directions.append(u)
            kt = k_def @ t
            k_def += np.outer(t, (t @ kt) * t - kt) - np.outer(kt, t)
            y_def -= np.outer(t, t @ y_def)
        t_mat = np.stack(scores, axis=1)
        a_mat = np.stack(directions, axis=1)
        return a_mat @ np.linalg.solve(t_mat.T @ k @ a_mat, t_mat.T @ y_c), len(scores)

    def fit(self, features, y, train, select=None):
        features = as_features(features)
        y = _check_targets(features, y)
        train = _rows(train, features.n, "train")
        fits, used = [], []
        for cols, finite in nan_groups(y[train]):
            rows = train[finite]
            k, x_scale = self._kernel(features, rows)
            y_s = y[np.ix_(rows, cols)]
            y_mean = y_s.mean(axis=0)
            y_scale = np.ones(len(cols))
            if self.scale:
                y_scale = y_s.std(axis=0, ddof=1)
                y_scale[y_scale == 0] = 1.0
            b, n_used = self._dual(k, (y_s - y_mean) / y_scale)
            fits.append((cols, rows, b * y_scale, y_mean, x_scale))
            used.append(n_used)
        if not fits:
            raise ValueError("no target has 3 or more finite training rows")
        self.components_used = int(min(used))
        self.readout = LinearReadout.from_dual(features, y.shape[1], fits)
        return self

    def predict(self, features, rows):
        if self.readout is None:
            raise ValueError("PLS.predict called before fit")
        return self.readout.predict(features, rows)

    def hyperparameters(self):
        return {"method": "pls", "n_components": self.n_components, "scale": self.scale,
                "components_used": self.components_used}


MASK_WEIGHT_DECAYS = (1.0, 0.5, 0.1, 0.05, 0.01, 0.005, 0.001)


class MaskRegression:
    """Factorised spatial x channel read-out, all neurons x all weight decays in one TF graph.

    Activations are scaled by one scalar (unit mean square on the training rows) and targets are
    z-scored per neuron; predictions are mapped back to the neuron's units. The weight decay w
    is chosen per neuron by Pearson r on the selection rows.
    """

    def __init__(self, weight_decays=MASK_WEIGHT_DECAYS, epochs=40, batch_size=64,
                 learning_rate=0.01, adam_epsilon=0.1, pearson_loss=False, seed=0):
        self.weight_decays = tuple(float(w) for w in weight_decays)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.adam_epsilon = float(adam_epsilon)
        self.pearson_loss = bool(pearson_loss)
        self.seed = int(seed)
        self.chosen_weight_decay = None
        self.select_r = None
        self._masks = None

    @staticmethod
    def _shape(features):
        shape = features.x.shape[1:]
        if len(shape) == 1:
            return 1, shape[0]
        if len(shape) == 3:
            return shape[0] * shape[1], shape[2]
        raise ValueError(f"mask regression needs [N, H, W, C] or [N, C] activations, got "
                         f"{features.x.shape}")

    def _batches(self, features, rows):
        """Scaled float32 batches [B, H*W, C] of the given rows (sorted within a batch)."""
        positions, channels = self._shape(features)
        for start in range(0, len(rows), self.batch_size):
            idx = rows[start:start + self.batch_size]
            order = np.argsort(idx)
            block = np.asarray(features.matrix[idx[order]], dtype=np.float32)
            block = block.reshape(len(idx), positions, channels) * np.float32(self._x_scale)
            yield start + order, block

    def _build(self, positions, channels, n_targets):
        import tensorflow as tf

        n_models = len(self.weight_decays) * n_targets
        rng = np.random.default_rng(self.seed)
        spatial = tf.Variable((1.0 + 0.1 * rng.standard_normal((n_models, positions))) / positions,
                              dtype=tf.float32)
        channel = tf.Variable(rng.standard_normal((n_models, channels)) / np.sqrt(channels),
                              dtype=tf.float32)
        bias = tf.Variable(tf.zeros([n_models]))
        variables = [spatial, channel, bias]
        moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]
        step_count = tf.Variable(0.0)
        decay = tf.constant(np.repeat(self.weight_decays, n_targets), tf.float32)
        lr, eps, b1, b2 = self.learning_rate, self.adam_epsilon, 0.9, 0.999
        n_copies = len(self.weight_decays)

        def predict(x):
            # Spatial masks first as one 2-D matmul, [M, P] @ [P, B*C] -> [M, B, C], so that
            # neither the forward nor the backward pass builds a [B, M, P] or [B, P, M] tensor;
            # then the channel masks: [B, M].
            batch = tf.shape(x)[0]
            by_position = tf.reshape(tf.transpose(x, [1, 0, 2]), [positions, -1])
            pooled = tf.reshape(tf.matmul(spatial, by_position), [n_models, batch, channels])
            return tf.transpose(tf.reduce_sum(pooled * channel[:, None, :], axis=-1)) + bias

        def step(x, y, mask):
            y = tf.tile(y, [1, n_copies])
            mask = tf.tile(mask, [1, n_copies])
            count = tf.maximum(tf.reduce_sum(mask, axis=0), 1.0)
            with tf.GradientTape() as tape:
                pred = predict(x)
                mse = tf.reduce_sum(mask * tf.square(pred - y), axis=0) / count
                reg = decay * (tf.reduce_sum(tf.square(spatial), 1) + tf.reduce_sum(tf.square(channel), 1))
                loss = mse + reg
                if self.pearson_loss:
                    pc = (pred - tf.reduce_sum(mask * pred, 0) / count) * mask
                    yc = (y - tf.reduce_sum(mask * y, 0) / count) * mask
                    r = tf.reduce_sum(pc * yc, 0) / tf.sqrt(
                        tf.reduce_sum(pc * pc, 0) * tf.reduce_sum(yc * yc, 0) + 1e-12)
                    loss -= r
                total = tf.reduce_sum(loss)
            grads = tape.gradient(total, variables)
            step_count.assign_add(1.0)
            alpha = lr * tf.sqrt(1.0 - b2 ** step_count) / (1.0 - b1 ** step_count)
            for v, g, (m, s) in zip(variables, grads, moments):  # Adam with TF1's epsilon-hat
                m.assign(b1 * m + (1.0 - b1) * g)
                s.assign(b2 * s + (1.0 - b2) * tf.square(g))
                v.assign_sub(alpha * m / (tf.sqrt(s) + eps))
            return tf.reduce_mean(mse)

        spec = [tf.TensorSpec([None, positions, channels], tf.float32),
                tf.TensorSpec([None, n_targets], tf.float32),
                tf.TensorSpec([None, n_targets], tf.float32)]
        return (tf.function(step, input_signature=spec, reduce_retracing=True),
                tf.function(predict, input_signature=spec[:1]), variables)

    def fit(self, features, y, train, select=None):
        features = as_features(features)
        y = _check_targets(features, y)
        train = _rows(train, features.n, "train")
        if select is None and len(self.weight_decays) > 1:
            raise ValueError("mask regression with several weight decays needs selection rows")
        positions, channels = self._shape(features)
        n_targets = y.shape[1]
        self._x_scale = 1.0 / np.sqrt(max(streaming.mean_square(features.matrix, train), 1e-30))
        y_train = y[train]
        with np.errstate(invalid="ignore"):
            self._y_mean = np.nanmean(y_train, axis=0)
            self._y_std = np.nanstd(y_train, axis=0)
        self._y_std[~(self._y_std > 0)] = 1.0
        z = (y - self._y_mean) / self._y_std
        mask = np.isfinite(z).astype(np.float32)
        z = np.where(mask > 0, z, 0.0).astype(np.float32)

        step, predict, (spatial, channel, bias) = self._build(positions, channels, n_targets)
        rng = np.random.default_rng(self.seed)
        self.epoch_seconds = []
        for epoch in range(self.epochs):
            start = time.perf_counter()
            order = rng.permutation(train)
            for pos, x in self._batches(features, order):
                rows = order[pos]
                loss = step(x, z[rows], mask[rows])
            self.epoch_seconds.append(time.perf_counter() - start)
            log.debug("mask epoch %d: mse %.4f", epoch, float(loss))
        n_wd = len(self.weight_decays)
        spatial = spatial.numpy().reshape(n_wd, n_targets, positions)
        channel = channel.numpy().reshape(n_wd, n_targets, channels)
        bias = bias.numpy().reshape(n_wd, n_targets)
        if n_wd == 1:
            best = np.zeros(n_targets, np.int64)
        else:
            pred = np.empty((len(select), n_wd * n_targets))
            for pos, x in self._batches(features, select):
                pred[pos] = predict(x).numpy()
            pred = pred.reshape(len(select), n_wd, n_targets).transpose(1, 0, 2)
            self.select_r = np.stack([pearson_columns(p, z[select]) for p in pred])
            best = _choose(self.select_r)
        pick = (best, np.arange(n_targets))
        self.chosen_weight_decay = np.asarray(self.weight_decays)[best]
        self._masks = (spatial[pick], channel[pick], bias[pick])
        unfitted = np.isfinite(y_train).sum(axis=0) < 3
        self._y_mean[unfitted] = np.nan
        return self

    def predict(self, features, rows):
        if self._masks is None:
            raise ValueError("MaskRegression.predict called before fit")
        features = as_features(features)
        rows = _rows(rows, features.n, "predict")
        spatial, channel, bias = self._masks
        out = np.empty((len(rows), spatial.shape[0]))
        for pos, x in self._batches(features, rows):
            out[pos] = np.einsum("bpn,np->bn", x @ channel.T, spatial) + bias
        return out * self._y_std + self._y_mean

    def hyperparameters(self):
        return {"method": "mask", "weight_decay": self.chosen_weight_decay.tolist(),
                "weight_decay_grid": list(self.weight_decays), "epochs": self.epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "adam_epsilon": self.adam_epsilon, "pearson_loss": self.pearson_loss,
                "seed": self.seed}


REGRESSIONS = {"mask": MaskRegression, "pls": PLS, "ridge": Ridge}


def make_regression(name, **kwargs):
    """A fresh regression by name ('mask', 'pls', 'ridge')."""
    if name not in REGRESSIONS:
        raise ValueError(f"unknown regression {name!r}; choose one of {', '.join(REGRESSIONS)}")
    return REGRESSIONS[name](**kwargs)
