"""vvs_tf.objectives"""
