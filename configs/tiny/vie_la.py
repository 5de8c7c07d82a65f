"""VIE-LA on the embedded world's video stream, warm-started from configs/tiny/vie_ir.py's workdir
(--config.train.warm_start=runs/vie_ir): clusters and neighbours scaled to its 116 videos."""
from vvs_tf.config import base_config, tiny_video


def get_config():
    c = tiny_video(base_config("vie_la"))
    c.objective.nce_k = 0  # the exact softmax: NCE's 4096 noise rows would outnumber the videos
    c.objective.background_k = 32
    c.objective.num_clusterings = 3
    c.objective.num_clusters = 8
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
