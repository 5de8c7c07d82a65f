"""vvs_tf.serving"""
