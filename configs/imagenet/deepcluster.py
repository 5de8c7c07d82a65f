"""DeepCluster, ResNet-18 on ImageNet (Caron et al. 2018) with Sobel input.

The DeepCluster paper's recipe: k-means (20 iterations) into k=10000 clusters of PCA-whitened
(256-d) L2-normalised features every epoch, classification head re-initialised each round, SGD
lr 0.05 momentum 0.9, weight decay 1e-5, batch 256, constant lr, 500 epochs (the paper's AlexNet
schedule; unsup_vvs does not give its ResNet-18 schedule). Clusters are balanced by loss weights
in place of the paper's uniform-over-clusters sampler.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("deepcluster")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.objective.num_clusters = 10000
    c.objective.pca_dim = 256
    c.train.batch_size = 256
    c.train.epochs = 500
    c.optimizer.lr = 0.05
    c.optimizer.weight_decay = 1e-5
    c.optimizer.schedule = "constant"
    return c
