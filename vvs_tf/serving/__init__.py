"""Serving activation exports the way TF Serving does, and clients for either server.

  codec        TensorProto / TF Serving REST JSON <-> NumPy
  wire         Predict messages written and read around NumPy buffers (large activations)
  jsontext     REST JSON with float arrays written whole by NumPy
  allocator    large freed buffers kept for reuse (no page faults per answer)
  repository   loaded versions kept in step with BASE/NAME/<version>/ directories
  rest, grpc_service, server
               vvs-serve: TF Serving's REST API and gRPC services over a repository
  client       REST and gRPC clients; ServingActivationModel for the evaluators
"""
