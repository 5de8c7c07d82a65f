"""vvs-eval's benchmarks score a model reached through vvs-serve (REST and gRPC) as they score
the SavedModel itself."""
import vvs_tf  # noqa: F401

import pytest

from vvs_tf.evaluate import registry

BENCHMARKS = ["World.position", "World.rsa-IT-sim"]
LAYERS = ["pool1", "layer2.1", "layer4.1"]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("world") / "world")


def _scores(model, world_dir, cache_dir):
    result = registry.evaluate(model, BENCHMARKS, world_dir=world_dir,
                               world={"num_images": 96, "image_size": 32}, cache_dir=cache_dir,
                               layers=LAYERS)
    return {(name, layer): entry["layers"][layer]["score"]
            for name, entry in result["benchmarks"].items() for layer in LAYERS}


def test_scores_through_rest_and_grpc_equal_the_savedmodel(server, tiny_model, world_dir,
                                                           tmp_path):
    direct = _scores(tiny_model.path, world_dir, str(tmp_path / "direct"))
    assert len(direct) == len(BENCHMARKS) * len(LAYERS)
    for url in (server.rest_url("tiny"), server.grpc_url("tiny")):
        served = _scores(url, world_dir, str(tmp_path / url.split(":")[0]))
        assert served.keys() == direct.keys()
        for key, score in direct.items():
            assert served[key] == pytest.approx(score, abs=1e-4), (url, key)
