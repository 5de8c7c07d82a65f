// ExactTopK: the k largest scores of each row of a wide [B, N] matrix and their column ids, in
// any order, on CPU. The same set tf.math.top_k returns (ties go to the lower column id), for
// LA's background neighbours (k = 4096 of N = 10^5..10^6 bank rows).
//
// Per row: the (k / stride * slack)-th largest of every stride-th score bounds the k-th largest
// from below; only the scores above that bound are collected (one pass, no [B, N] mask or
// index matrix), and nth_element splits the top k from them. A row whose bound admits fewer
// than k scores is redone over all of its scores, so the answer is exact whatever the data.
// Rows run in parallel on the op's CPU thread pool.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

namespace vvs_tf {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Status;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;
namespace shape_inference = tensorflow::shape_inference;

REGISTER_OP("VvsExactTopK")
    .Input("scores: float")
    .Output("values: float")
    .Output("indices: int32")
    .Attr("k: int >= 1")
    .Attr("sample_stride: int >= 1 = 16")
    .Attr("slack: float = 1.3")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle scores;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &scores));
      int64_t k;
      TF_RETURN_IF_ERROR(c->GetAttr("k", &k));
      shape_inference::ShapeHandle out = c->Matrix(c->Dim(scores, 0), k);
      c->set_output(0, out);
      c->set_output(1, out);
      return Status();
    });

namespace {

struct Entry {
  float value;
  int32_t column;
};

// a ranks above b: NaN above every number (a strict weak order even with NaNs, which
// nth_element needs), then larger values.
inline bool Greater(float a, float b) {
  return std::isnan(a) ? !std::isnan(b) : a > b;
}

// Larger score first; among equal scores the lower column, as tf.math.top_k.
inline bool Before(const Entry& a, const Entry& b) {
  if (Greater(a.value, b.value)) return true;
  if (Greater(b.value, a.value)) return false;
  return a.column < b.column;
}

// Scratch space of one thread, allocated once per shard and left uninitialised (a zero-filled
// buffer of N entries per row would cost as much as the selection).
struct Scratch {
  explicit Scratch(int64_t n, int64_t stride)
      : sample(new float[(n + stride - 1) / stride]), candidates(new Entry[n]) {}
  std::unique_ptr<float[]> sample;
  std::unique_ptr<Entry[]> candidates;
};

// Scores of row[0..n) that are not below bound, in column order, into out; returns how many.
// Branch-free: each score is written to the next free slot, which advances only past kept ones
// (a branch taken for ~5% of scores at random mispredicts). !(x < bound), not x >= bound: NaN
// scores, which rank first, are kept.
int64_t Collect(const float* row, int64_t n, float bound, Entry* out) {
  int64_t kept = 0;
  for (int64_t j = 0; j < n; ++j) {
    out[kept] = {row[j], static_cast<int32_t>(j)};
    kept += !(row[j] < bound);
  }
  return kept;
}

// The k entries of row[0..n) that come first under Before, written to values/columns.
void RowTopK(const float* row, int64_t n, int64_t k, int64_t stride, double slack,
             Scratch* scratch, float* values, int32_t* columns) {
  float bound = -INFINITY;
  const int64_t sample_size = (n + stride - 1) / stride;
  const int64_t sample_rank = static_cast<int64_t>(std::ceil(k * slack / stride)) + 16;
  if (stride > 1 && sample_rank < sample_size) {
    float* sample = scratch->sample.get();
    for (int64_t i = 0; i < sample_size; ++i) sample[i] = row[i * stride];
    std::nth_element(sample, sample + (sample_rank - 1), sample + sample_size, Greater);
    bound = sample[sample_rank - 1];
  }
  Entry* candidates = scratch->candidates.get();
  int64_t kept = Collect(row, n, bound, candidates);
  if (kept < k) kept = Collect(row, n, -INFINITY, candidates);  // the sampled bound missed
  std::nth_element(candidates, candidates + (k - 1), candidates + kept, Before);
  for (int64_t i = 0; i < k; ++i) {
    values[i] = candidates[i].value;
    columns[i] = candidates[i].column;
  }
}

class ExactTopKOp : public OpKernel {
 public:
  explicit ExactTopKOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("k", &k_));
    OP_REQUIRES_OK(context, context->GetAttr("sample_stride", &stride_));
    OP_REQUIRES_OK(context, context->GetAttr("slack", &slack_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& scores = context->input(0);
    OP_REQUIRES(context, scores.dims() == 2,
                InvalidArgument("scores must be [B, N], got shape ", scores.shape().DebugString()));
    const int64_t rows = scores.dim_size(0), n = scores.dim_size(1);
    OP_REQUIRES(context, k_ <= n,
                InvalidArgument("k=", k_, " exceeds the ", n, " columns of scores"));
    OP_REQUIRES(context, n <= INT32_MAX,
                InvalidArgument("scores has ", n, " columns; int32 ids hold at most 2^31 - 1"));
    Tensor* values = nullptr;
    Tensor* indices = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({rows, k_}), &values));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({rows, k_}), &indices));
    const float* in = scores.flat<float>().data();
    float* out_values = values->flat<float>().data();
    int32_t* out_indices = indices->flat<int32_t>().data();
    const int64_t k = k_, stride = stride_;
    const double slack = slack_;
    auto work = [&](int64_t begin, int64_t end) {
      Scratch scratch(n, stride);
      for (int64_t r = begin; r < end; ++r) {
        RowTopK(in + r * n, n, k, stride, slack, &scratch, out_values + r * k,
                out_indices + r * k);
      }
    };
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    pool->ParallelFor(rows, /*cost_per_unit=*/4 * n + 40 * k, work);
  }

 private:
  int64_t k_;
  int64_t stride_;
  float slack_;
};

REGISTER_KERNEL_BUILDER(Name("VvsExactTopK").Device(DEVICE_CPU), ExactTopKOp);

}  // namespace
}  // namespace vvs_tf
