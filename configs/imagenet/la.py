"""Local Aggregation, ResNet-18 on ImageNet, warm-started from 10 epochs of IR.

H=10 clusterings of 30000 clusters, 4096 background neighbours, lr 0.03 dropped 10x at epochs 160
and 190 (the PyTorch configs). Set --config.train.warm_start=<IR workdir>.

Re-clustering (10 faiss k-means of the 1.28M-row bank) runs in the background from each epoch's
boundary bank and its labels are installed at step 500 of the 10,008-step epoch, so training
does not wait for it (the original clustered synchronously; the labels now lag by 5% of an
epoch). Set recluster_overlap_steps=0 for the original schedule.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("la")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.epochs = 200
    c.optimizer.lr_drop_epochs = (160, 190)
    c.objective.recluster_overlap_steps = 500
    return c
