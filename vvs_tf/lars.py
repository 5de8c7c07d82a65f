"""LARS (You et al. 2017) as used by SimCLR: SGD with momentum whose per-layer step is scaled by a
trust ratio eta * ||w|| / ||g||, so that large-batch learning rates do not blow up small layers.

Weight decay stays an L2 term in the loss (Objective.l2_penalty), so the gradient seen here already
contains it, as in SimCLR's LARS where decay is added to the gradient before the ratio.
"""
import vvs_tf  # noqa: F401

import keras
from keras import ops


class LARS(keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling with heavy-ball momentum.

    For each variable w with gradient g:
      ratio = eta * ||w|| / ||g||   (1 where ||w|| or ||g|| is 0, or where w is excluded)
      v <- momentum * v + lr * ratio * g
      w <- w - v                      (Nesterov: w <- w - (momentum * v + lr * ratio * g))
    Excluded from the ratio (they get plain momentum SGD, as in SimCLR): 1-D variables, i.e.
    BatchNorm scales/offsets and biases.
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, trust_coefficient=1e-3, nesterov=False,
                 name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"LARS momentum must be in [0, 1), got {momentum}")
        if float(trust_coefficient) <= 0.0:
            raise ValueError(f"LARS trust_coefficient must be positive, got {trust_coefficient}")
        self.momentum = float(momentum)
        self.trust_coefficient = float(trust_coefficient)
        self.nesterov = bool(nesterov)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    @staticmethod
    def adapts(variable) -> bool:
        """Whether the trust ratio applies: kernels (rank >= 2), not BN parameters or biases."""
        return len(variable.shape) >= 2

    def trust_ratio(self, gradient, variable):
        w_norm = ops.sqrt(ops.sum(ops.square(variable)))
        g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
        usable = ops.logical_and(w_norm > 0.0, g_norm > 0.0)
        return ops.where(usable, self.trust_coefficient * w_norm / ops.where(usable, g_norm, 1.0),
                         1.0)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.adapts(variable):
            lr = lr * ops.cast(self.trust_ratio(gradient, ops.convert_to_tensor(variable)),
                               variable.dtype)
        velocity = self.momentums[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, variable.dtype)
        self.assign(velocity, momentum * velocity + lr * gradient)
        if self.nesterov:
            self.assign_sub(variable, momentum * velocity + lr * gradient)
        else:
            self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, trust_coefficient=self.trust_coefficient,
                      nesterov=self.nesterov)
        return config
