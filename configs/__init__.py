"""Experiment configs: plain Python files returning a ConfigDict from get_config()."""
