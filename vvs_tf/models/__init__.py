"""vvs_tf.models"""
