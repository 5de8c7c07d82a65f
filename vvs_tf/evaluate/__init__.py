"""vvs_tf.evaluate: score any activation model against brains, behaviour and transfer tasks.

activations  activation models (Keras, SavedModel, TF Serving) and streamed, cached extraction
brainio      local BrainIO readers: stimulus sets (CSV + zip/folder), netCDF assemblies, trials
ceiling      split-half internal consistency with Spearman-Brown correction
regression   mask (factorised), PLS and ridge read-outs behind one fit/predict interface
neural       cross-validated, noise-corrected predictivity per layer and area; best layer
stats        NaN-aware correlations, paired t-tests, bootstraps
rsa          RDMs and their rank correlation with subjects' RDMs
behaviour    classifier probabilities and Brain-Score's i2n / o2 consistency with humans
transfer     categorisation probe; object position / pose / size regression
knn          weighted kNN classification of embeddings (TF, usable in a tf.function)
reduction    spatial mean and streamed PCA;  streaming: block-wise linear algebra on memmaps

Submodules are imported on use (several load TensorFlow).
"""
