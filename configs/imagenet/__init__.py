"""Full-scale ImageNet configs of every method (the paper's hyperparameters)."""
