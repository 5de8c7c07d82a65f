"""Optimizers and learning-rate schedules from a config's `optimizer` block (steps, not epochs)."""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf


class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over `warmup_steps`, then `schedule` (counted from the warm-up end)."""

    def __init__(self, schedule, peak, warmup_steps):
        self.schedule, self.peak, self.warmup_steps = schedule, float(peak), int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * (step + 1.0) / float(max(self.warmup_steps, 1))
        return tf.where(step < self.warmup_steps, warm, self.schedule(step - self.warmup_steps))

    def get_config(self):
        return dict(peak=self.peak, warmup_steps=self.warmup_steps)


def learning_rate_schedule(cfg, steps_per_epoch: int, epochs: int):
    """step: x lr_drop_factor at each of lr_drop_epochs; cosine: to 0 at the end; constant."""
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if cfg.schedule == "constant":
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([10**12], [cfg.lr, cfg.lr])
    elif cfg.schedule == "step":
        drops = sorted(int(e * steps_per_epoch) - warmup for e in cfg.lr_drop_epochs)
        values = [cfg.lr * cfg.lr_drop_factor**i for i in range(len(drops) + 1)]
        schedule = (keras.optimizers.schedules.PiecewiseConstantDecay(drops, values) if drops
                    else keras.optimizers.schedules.PiecewiseConstantDecay([10**12], [cfg.lr] * 2))
    elif cfg.schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(
            cfg.lr, max(1, epochs * steps_per_epoch - warmup))
    else:
        raise ValueError(f"unknown optimizer.schedule {cfg.schedule!r}")
    return WarmupThen(schedule, cfg.lr, warmup) if warmup else schedule


def build_optimizer(cfg, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """SGD(+Nesterov), Adam, or LARS. Weight decay is an L2 loss on kernels (Objective.l2_penalty),
    matching the coupled decay of the original SGD recipes; it is not passed to the optimizer."""
    lr = learning_rate_schedule(cfg, steps_per_epoch, epochs)
    name = cfg.name.lower()
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if name == "adam":
        return keras.optimizers.Adam(lr, epsilon=cfg.get("epsilon", 1e-7))
    if name == "lars":
        from vvs_tf.lars import LARS

        return LARS(lr, momentum=cfg.momentum, trust_coefficient=cfg.get("trust_coefficient", 1e-3))
    raise ValueError(f"unknown optimizer.name {cfg.name!r}; known: sgd, adam, lars")
