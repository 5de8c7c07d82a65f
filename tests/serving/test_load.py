"""A bounded load test on loopback: 4 concurrent clients, 40 requests over REST and gRPC, every
answer arrives, is right for its own request, and the server counted exactly those requests."""
import vvs_tf  # noqa: F401

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vvs_tf.serving.client import connect

CLIENTS, REQUESTS, BATCH = 4, 40, 2


def test_concurrent_clients_lose_nothing(server, direct, rng):
    batches = rng.random((REQUESTS, BATCH, 32, 32, 3), dtype=np.float32)
    expected = [direct("serving_default", images=b)["embedding"] for b in batches]
    clients = [connect(server.rest_url("tiny") if i % 2 == 0 else server.grpc_url("tiny"),
                       timeout=30, retries=0) for i in range(CLIENTS)]
    for client in clients:
        client.signatures()  # metadata first, so the counts below are predict calls only
    def counts():
        return {"rest": server.metrics.count(model="tiny", api="rest_predict"),
                "grpc": server.metrics.count(model="tiny", api="grpc_predict"),
                "ok": server.metrics.count(model="tiny", api="rest_predict", status="200")
                + server.metrics.count(model="tiny", api="grpc_predict", status="OK")}

    before = counts()

    def work(index):
        client = clients[index % CLIENTS]
        return index, client.predict({"images": batches[index]})["embedding"]

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = dict(pool.map(work, range(REQUESTS)))
    finally:
        for client in clients:
            client.close()
    assert sorted(answers) == list(range(REQUESTS))
    for index, embedding in answers.items():
        np.testing.assert_allclose(embedding, expected[index], atol=1e-5, err_msg=str(index))
    after = counts()
    assert {k: after[k] - before[k] for k in after} == {
        "rest": REQUESTS // 2, "grpc": REQUESTS // 2, "ok": REQUESTS}  # all served, no errors
