"""Training objectives: one module per method, each registering itself by name."""
from vvs_tf.objectives import (  # noqa: F401
    instance_recognition,
    local_aggregation,
    supervised,
)
from vvs_tf.objectives import cmc, deepcluster, llp, moco, simclr  # noqa: F401
from vvs_tf.objectives import autoencoder, colorization, cpc, depth_prediction  # noqa: F401
from vvs_tf.objectives import mean_teacher, prednet, relative_position, rotation, vie  # noqa: F401
from vvs_tf.objectives.base import DataInfo, Objective  # noqa: F401
from vvs_tf.objectives.registry import OBJECTIVES, create_objective, get_objective_class  # noqa: F401
