"""vvs_tf.evaluate"""
