"""Where vvs_tf keeps what it builds once and reuses: the embedded world and video, activation
caches, compiled native ops."""
import os


def cache_root() -> str:
    """$VVS_TF_CACHE, default ~/.cache/vvs_tf."""
    return os.environ.get("VVS_TF_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "vvs_tf"))
