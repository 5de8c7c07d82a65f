#!/usr/bin/env bash
# Serve the activation exports under MODELS_DIR with tensorflow_model_server, using this
# directory's models.config, batching.config and monitoring.config, and print the equivalent
# container command. Without the binary, vvs-serve serves the same directory (see README.md).
#
#   serving/launch_tf_serving.sh MODELS_DIR [--port=8500] [--rest_api_port=8501] [--dry-run]
#
# MODELS_DIR holds one directory per model of models.config (e.g. MODELS_DIR/resnet18_la/1/).
# --dry-run prints both commands and exits.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
models_dir=""
port=8500
rest_api_port=8501
dry_run=0
image="${TF_SERVING_IMAGE:-tensorflow/serving:2.21.0}"
for arg in "$@"; do
  case "$arg" in
    --port=*) port="${arg#*=}" ;;
    --rest_api_port=*) rest_api_port="${arg#*=}" ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *) [[ -z "$models_dir" ]] || { echo "one MODELS_DIR only" >&2; usage; }; models_dir="$arg" ;;
  esac
done
[[ -n "$models_dir" ]] || usage
[[ -d "$models_dir" ]] || { echo "MODELS_DIR is not a directory: $models_dir" >&2; exit 1; }
models_dir="$(cd "$models_dir" && pwd)"

# models.config names container paths (/models/NAME); point them at MODELS_DIR for a local run.
# The rendered copy stays, as the printed commands and a running server read it.
local_config="$(mktemp "${TMPDIR:-/tmp}/vvs_models.XXXXXX.config")"
sed "s#base_path: \"/models/#base_path: \"${models_dir}/#" "$here/models.config" > "$local_config"

flags=(
  --port="$port"
  --rest_api_port="$rest_api_port"
  --enable_batching=true
  --file_system_poll_wait_seconds=1
  --model_config_file_poll_wait_seconds=60
)
echo "# local:"
echo "tensorflow_model_server ${flags[*]} --model_config_file=$local_config" \
  "--batching_parameters_file=$here/batching.config" \
  "--monitoring_config_file=$here/monitoring.config"
echo "# container:"
echo "docker run --rm -p $port:8500 -p $rest_api_port:8501" \
  "-v $models_dir:/models:ro -v $here:/config:ro $image" \
  "--enable_batching=true --file_system_poll_wait_seconds=1" \
  "--model_config_file=/config/models.config --model_config_file_poll_wait_seconds=60" \
  "--batching_parameters_file=/config/batching.config" \
  "--monitoring_config_file=/config/monitoring.config"
[[ "$dry_run" == 1 ]] && exit 0

if ! command -v tensorflow_model_server >/dev/null; then
  echo "tensorflow_model_server is not installed: run the container command above, or" >&2
  echo "  vvs-serve --model_config_file=$local_config --port=$port --rest_api_port=$rest_api_port" >&2
  exit 1
fi
exec tensorflow_model_server "${flags[@]}" --model_config_file="$local_config" \
  --batching_parameters_file="$here/batching.config" \
  --monitoring_config_file="$here/monitoring.config"
