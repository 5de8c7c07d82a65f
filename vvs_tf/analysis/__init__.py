"""vvs_tf.analysis"""
