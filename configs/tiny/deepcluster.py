"""DeepCluster on the embedded world (32 px, width-16 ResNet-18 on Sobel input): CPU minutes.

Clusters scale with the data: 64 clusters of 2048 images, PCA to 64 of the 128 feature channels
(the paper: 10000 clusters of 1.28M images, PCA to 256). DeepCluster's lr 0.05, weight decay 1e-5.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("deepcluster"))
    c.objective.num_clusters = 64
    c.objective.pca_dim = 64
    c.optimizer.lr = 0.05
    c.optimizer.weight_decay = 1e-5
    c.optimizer.schedule = "constant"
    c.train.epochs = 6
    return c
