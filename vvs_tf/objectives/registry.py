"""Name -> objective class, so a config's ``method`` picks the training method."""
OBJECTIVES = {}


def register(name: str):
    def add(cls):
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} registered twice")
        OBJECTIVES[name] = cls
        cls.method_name = name
        return cls

    return add


def get_objective_class(name: str):
    import vvs_tf.objectives  # noqa: F401  (imports every method module, which registers itself)

    if name not in OBJECTIVES:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(sorted(OBJECTIVES))}")
    return OBJECTIVES[name]


def create_objective(config, data_info):
    """Backbone + objective for a config, with every variable built (call in a strategy scope)."""
    from vvs_tf.models import build_backbone

    cls = get_objective_class(config.method)
    objective = cls(build_backbone(config.model, channels=cls.backbone_channels), config, data_info)
    objective.build_objective()
    return objective
