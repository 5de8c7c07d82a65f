"""The status and metadata answers, built once as TF Serving's protos for both front-ends.

gRPC returns the protos; REST returns their JSON form (int64 as strings, enum names), which is
what TF Serving's REST API prints for `GET /v1/models/NAME` and `GET .../metadata`.
"""
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2
from tensorflow_serving.apis import status_pb2

from vvs_tf.serving.errors import invalid

_STATE = get_model_status_pb2.ModelVersionStatus.State
SIGNATURE_DEF_FIELD = "signature_def"


def status_response(repository, name: str, version=None):
    """GetModelStatusResponse for every known version of a model (or one version)."""
    rows = repository.status(name, version)
    return get_model_status_pb2.GetModelStatusResponse(model_version_status=[
        get_model_status_pb2.ModelVersionStatus(
            version=v,
            state=_STATE.Value(state),
            status=status_pb2.StatusProto(error_code=0 if not message else 2,  # OK / UNKNOWN
                                          error_message=message),
        )
        for v, state, message in rows
    ])


def metadata_response(servable, fields=(SIGNATURE_DEF_FIELD,)):
    """GetModelMetadataResponse carrying the servable's SignatureDefMap."""
    unsupported = [f for f in fields if f != SIGNATURE_DEF_FIELD]
    if unsupported or not fields:
        raise invalid(f"Metadata field {unsupported or '<none>'} is not supported; "
                      f"ask for '{SIGNATURE_DEF_FIELD}'")
    response = get_model_metadata_pb2.GetModelMetadataResponse(
        model_spec=model_pb2.ModelSpec(name=servable.name, version={"value": servable.version})
    )
    signature_map = get_model_metadata_pb2.SignatureDefMap(signature_def=servable.signature_defs)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def to_json(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def metadata_json(response) -> dict:
    """REST form of a metadata response: the packed SignatureDefMap shown unpacked."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    spec = response.model_spec
    return {
        "model_spec": {"name": spec.name, "signature_name": spec.signature_name,
                       "version": str(spec.version.value)},
        "metadata": {SIGNATURE_DEF_FIELD: to_json(signature_map)},
    }
