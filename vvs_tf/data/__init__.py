"""vvs_tf.data"""
