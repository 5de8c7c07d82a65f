"""A gRPC server that answers every PredictionService/Predict with one fixed answer.

  python benchmarks/grpc_echo.py --answer=FILE    (prints its port, then serves until killed)

FILE holds PredictResponse wire bytes. The server has vvs-serve's channel options, thread pool and
allocator setting but neither runs a model nor encodes anything, so a client's time against it is
what moving the request and the answer costs: benchmarks/serving.py's `echo` row, the transport's
share of the gRPC row.
"""
from concurrent import futures

import grpc
from absl import app, flags

from vvs_tf.serving import allocator, wire

FLAGS = flags.FLAGS
flags.DEFINE_string("answer", None, "File of the PredictResponse bytes to answer with.")
flags.mark_flag_as_required("answer")


def main(argv):
    del argv
    allocator.reuse_freed_memory()  # as vvs-serve
    with open(FLAGS.answer, "rb") as f:
        answer = f.read()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", -1), *wire.GRPC_OPTIONS])
    predict = grpc.unary_unary_rpc_method_handler(lambda request, context: answer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService", {"Predict": predict}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    app.run(main)
