"""Frozen copies of trained networks that follow them as an exponential moving average: MoCo's key
encoder, Mean Teacher's teacher.

Only the trainable parameters follow the average; a copy's BatchNorm moving statistics follow its
own forward passes (as in both originals). The copy's variables are marked non-trainable, so the
optimizer never sees them.
"""
import vvs_tf  # noqa: F401


def ema_pairs(copies, originals):
    """(copy's variable, original's variable) for every trainable parameter of `originals`, from
    lists of networks built alike (same architecture, same order)."""
    targets = [w for net in copies for w in net.weights]
    sources = [w for net in originals for w in net.weights]
    if [tuple(t.shape) for t in targets] != [tuple(s.shape) for s in sources]:
        raise ValueError("the moving-average copy's weights do not mirror the trained network's")
    return [(t, s) for t, s in zip(targets, sources) if s.trainable]


def start_copy(copies, originals):
    """Makes `copies` equal to `originals` and freezes them (also after a warm start)."""
    for target, source in ema_pairs(copies, originals):
        target.assign(source)
    for net in copies:
        for variable in net.weights:
            variable.trainable = False


def momentum_update(pairs, momentum):
    """target <- m * target + (1 - m) * source for every (target, source) pair."""
    for target, source in pairs:
        target.assign(momentum * target + (1.0 - momentum) * source)
