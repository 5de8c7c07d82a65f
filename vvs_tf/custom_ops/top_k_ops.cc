// LA's background neighbours on CPU: the exact top k of each row of the bank similarities
// (forward), and the weighted sum of the selected bank rows (the gradient with respect to the
// queries, without the dense [B, N] gradient matrix and its matmul).
//
// VvsExactTopK: the k largest scores of each row of a wide [B, N] matrix and their column ids,
// in any order. The same set tf.math.top_k returns (ties go to the lower column id); NaNs rank
// first. Per row: the (k / stride * slack)-th largest of every stride-th score bounds the k-th
// largest from below; only the scores above that bound are collected (one pass, no [B, N] mask
// or index matrix), and nth_element splits the top k from them. A row whose bound admits fewer
// than k scores is redone over all of its scores, so the answer is exact whatever the data.
// Rows run in parallel on the op's CPU thread pool.
//
// VvsWeightedRowSum: out[b] = sum_j weights[b, j] * rows[ids[b, j]]. The (b, j) pairs are
// grouped by row id first (a counting sort), so each selected row of the bank is read once, in
// order, and added to every query that selected it: one pass over the bank instead of B * k
// scattered row reads, or a dense [B, N] x [N, D] matmul.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

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
    pool->ParallelFor(
        rows, tensorflow::thread::ThreadPool::SchedulingParams::Adaptive(4 * n + 40 * k), work);
  }

 private:
  int64_t k_;
  int64_t stride_;
  float slack_;
};

REGISTER_KERNEL_BUILDER(Name("VvsExactTopK").Device(DEVICE_CPU), ExactTopKOp);

REGISTER_OP("VvsWeightedRowSum")
    .Input("weights: float")
    .Input("ids: int32")
    .Input("rows: float")
    .Output("sums: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle weights, ids, rows;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &weights));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &ids));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 2, &rows));
      TF_RETURN_IF_ERROR(c->Merge(weights, ids, &weights));
      c->set_output(0, c->Matrix(c->Dim(weights, 0), c->Dim(rows, 1)));
      return Status();
    });

// A (query, weight) pair of VvsWeightedRowSum, grouped by the bank row it selected.
struct Selection {
  int32_t query;
  float weight;
};

// partial[query] += weight * rows[j] for every selection of each bank row j in [begin, end).
// start[j]..start[j + 1] are row j's selections. Plain pointers with __restrict, so the
// compiler vectorises the inner loop without alias checks.
void AddSelectedRows(const float* rows, int64_t dim, const int64_t* start,
                     const Selection* selections, int64_t begin, int64_t end,
                     float* __restrict partial) {
  for (int64_t j = begin; j < end; ++j) {
    const float* __restrict source = rows + j * dim;
    for (int64_t p = start[j]; p < start[j + 1]; ++p) {
      float* __restrict target = partial + static_cast<int64_t>(selections[p].query) * dim;
      const float weight = selections[p].weight;
      for (int64_t d = 0; d < dim; ++d) target[d] += weight * source[d];
    }
  }
}

class WeightedRowSumOp : public OpKernel {
 public:
  explicit WeightedRowSumOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& weights = context->input(0);
    const Tensor& ids = context->input(1);
    const Tensor& rows = context->input(2);
    OP_REQUIRES(context, weights.dims() == 2 && weights.shape() == ids.shape(),
                InvalidArgument("weights and ids must be [B, k] alike, got ",
                                weights.shape().DebugString(), " and ", ids.shape().DebugString()));
    OP_REQUIRES(context, rows.dims() == 2,
                InvalidArgument("rows must be [N, D], got ", rows.shape().DebugString()));
    const int64_t batch = weights.dim_size(0), k = weights.dim_size(1);
    const int64_t n = rows.dim_size(0), dim = rows.dim_size(1);
    Tensor* sums = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({batch, dim}), &sums));
    float* out = sums->flat<float>().data();
    std::fill(out, out + batch * dim, 0.0f);
    const float* weight = weights.flat<float>().data();
    const int32_t* id = ids.flat<int32_t>().data();
    const float* row = rows.flat<float>().data();

    // Counting sort of the B * k (query, weight) pairs by row id.
    for (int64_t i = 0; i < batch * k; ++i) {
      OP_REQUIRES(context, id[i] >= 0 && id[i] < n,
                  InvalidArgument("ids[", i / k, ", ", i % k, "] = ", id[i],
                                  " is not a row of the ", n, " rows"));
    }
    std::vector<int64_t> start(n + 1, 0);
    for (int64_t i = 0; i < batch * k; ++i) ++start[id[i] + 1];
    for (int64_t j = 0; j < n; ++j) start[j + 1] += start[j];
    std::unique_ptr<Selection[]> selections(new Selection[batch * k]);  // all written below
    {
      std::vector<int64_t> next(start.begin(), start.end() - 1);
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t j = b * k; j < (b + 1) * k; ++j) {
          selections[next[id[j]]++] = {static_cast<int32_t>(b), weight[j]};
        }
      }
    }

    // Shards of consecutive bank rows, each into its own [B, D] partial sums, added up in shard
    // order afterwards, so the result does not depend on which thread finished first.
    const int64_t block = std::max<int64_t>(4096, (n + kShards - 1) / kShards);
    const int64_t shards = (n + block - 1) / block;
    std::vector<float> partials(shards * batch * dim, 0.0f);
    auto work = [&](int64_t begin, int64_t end) {
      AddSelectedRows(row, dim, start.data(), selections.get(), begin, end,
                      partials.data() + (begin / block) * batch * dim);
    };
    context->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(
        n, tensorflow::thread::ThreadPool::SchedulingParams::Fixed(block), work);
    for (int64_t shard = 0; shard < shards; ++shard) {
      const float* partial = partials.data() + shard * batch * dim;
      for (int64_t i = 0; i < batch * dim; ++i) out[i] += partial[i];
    }
  }

 private:
  static constexpr int64_t kShards = 8;  // a few per core; each costs a [B, D] partial
};

REGISTER_KERNEL_BUILDER(Name("VvsWeightedRowSum").Device(DEVICE_CPU), WeightedRowSumOp);

}  // namespace
}  // namespace vvs_tf
