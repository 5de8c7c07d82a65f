"""PredNet (Lotter, Kreiman & Cox, ICLR 2017): a stack of recurrent modules that predict their
input's next frame and pass the prediction errors up.

Module l at step t (top-down first, then bottom-up):
  R_l = ConvLSTM(E_l(t-1), R_l(t-1), upsample(R_{l+1}(t)))       the representation
  Ahat_l = ReLU(conv(R_l))   (clipped at 1 for pixels, l = 0)      the prediction
  E_l = [ReLU(A_l - Ahat_l), ReLU(Ahat_l - A_l)]                   the error
  A_{l+1} = maxpool(ReLU(conv(E_l)));  A_0 = the frame
Channels (3, w, 2w, 4w) for width w (the original's KITTI network: w = 48); 3x3 kernels; the LSTM's
gates are hard sigmoids, its cell and output tanh.

It is not a ResNet: its read-outs are the A, R and E layers of each module (4 modules x 3 = 12),
each [B, T, h, w, c] over the clip's frames; like the 3-D ResNet's they are averaged over time for
evaluation (models.readouts.time_averaged).
"""
import vvs_tf  # noqa: F401

import keras
from keras import layers, ops


def readout_names(modules: int = 4) -> tuple:
    return tuple(f"module{m}.{part}" for m in range(modules) for part in ("A", "R", "E"))


def _conv(filters, name, activation=None):
    return layers.Conv2D(filters, 3, padding="same", activation=activation, name=name,
                         kernel_initializer="glorot_uniform")


class _ConvLSTM:
    """The shared convolutions of one module's ConvLSTM, applied step by step."""

    def __init__(self, filters, name):
        self.filters = filters
        self.gates = _conv(4 * filters, f"{name}.lstm")

    def __call__(self, inputs, cell):
        z = self.gates(layers.Concatenate()(inputs))
        i, f, o, c = (z[..., k * self.filters:(k + 1) * self.filters] for k in range(4))
        cell = ops.hard_sigmoid(f) * cell + ops.hard_sigmoid(i) * ops.tanh(c)
        return ops.hard_sigmoid(o) * ops.tanh(cell), cell


def build_prednet(width: int = 48, modules: int = 4, frames: int = 10, input_size: int = None,
                  name: str = None) -> keras.Model:
    """PredNet on clips [B, frames, S, S, 3] in [0, 1] (S divisible by 2^(modules-1)); returns the
    dict of the 12 read-outs over time."""
    if width < 1 or modules < 2 or frames < 2:
        raise ValueError(f"PredNet needs width >= 1, modules >= 2 and frames >= 2, got {width}, "
                         f"{modules}, {frames}")
    if input_size is not None and input_size % 2 ** (modules - 1):
        raise ValueError(f"PredNet input_size must be divisible by {2 ** (modules - 1)} "
                         f"({modules} modules), got {input_size}")
    channels = [3] + [width * 2**m for m in range(modules - 1)]
    clips = keras.Input((frames, input_size, input_size, 3), name="clips")
    lstm = [_ConvLSTM(channels[m], f"module{m}") for m in range(modules)]
    predict = [_conv(channels[m], f"module{m}.ahat", "relu") for m in range(modules)]
    lift = [_conv(channels[m + 1], f"module{m + 1}.a", "relu") for m in range(modules - 1)]
    pool, upsample = layers.MaxPooling2D(2), layers.UpSampling2D(2)

    # Zero states of each module's size, from the first frame's shape.
    first = clips[:, 0]
    grids = [first]
    for _ in range(modules - 1):
        grids.append(pool(grids[-1]))
    zeros = [ops.zeros_like(g[..., :1]) for g in grids]
    r = [ops.tile(z, [1, 1, 1, c]) for z, c in zip(zeros, channels)]
    cell = list(r)
    e = [ops.tile(z, [1, 1, 1, 2 * c]) for z, c in zip(zeros, channels)]

    history = {n: [] for n in readout_names(modules)}
    for t in range(frames):
        for m in reversed(range(modules)):
            inputs = [e[m], r[m]] + ([upsample(r[m + 1])] if m < modules - 1 else [])
            r[m], cell[m] = lstm[m](inputs, cell[m])
        a = clips[:, t]
        for m in range(modules):
            a_hat = predict[m](r[m])
            if m == 0:
                a_hat = ops.minimum(a_hat, 1.0)  # pixels
            e[m] = layers.Concatenate()([ops.relu(a - a_hat), ops.relu(a_hat - a)])
            for part, value in (("A", a), ("R", r[m]), ("E", e[m])):
                history[f"module{m}.{part}"].append(value)
            if m < modules - 1:
                a = pool(lift[m](e[m]))
    outputs = {n: ops.stack(values, axis=1) for n, values in history.items()}
    model = keras.Model(clips, outputs, name=name or "prednet")
    model.readout_names = readout_names(modules)
    return model
