"""Analyses of trained networks (REFERENCE.md): embedding geometry, optimal stimuli, first-layer
filters, orientation selectivity and developmental trajectories over checkpoints."""
