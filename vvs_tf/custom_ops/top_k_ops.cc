// LA's background neighbours on CPU: the exact top k of each row of the bank similarities
// (forward), the weighted sum of the selected bank rows (the gradient with respect to the
// queries, without the dense [B, N] gradient matrix and its matmul), and which of the neighbours
// share a cluster with the example (its close neighbours).
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
//
// VvsSharesAnyLabel: shared[b, j] = any_h labels[ids[b, j], h] == own[b, h], LA's close
// neighbours among the background ones: one read of each neighbour's H labels instead of a
// gathered [B, k, H] tensor, its comparison and its reduction.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

// The library is built for the baseline x86-64 ISA (a cache may be shared by machines of
// different CPU generations); the hot loops also get AVX2/AVX-512 versions, picked at run time.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VVS_TF_X86_DISPATCH 1
#else
#define VVS_TF_X86_DISPATCH 0
#endif

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

// Shape functions: the shapes of an op's three inputs, each of which must be a matrix.
static Status ThreeMatrices(shape_inference::InferenceContext* c,
                            shape_inference::ShapeHandle* first,
                            shape_inference::ShapeHandle* second,
                            shape_inference::ShapeHandle* third) {
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, first));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, second));
  return c->WithRank(c->input(2), 2, third);
}

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

// Instruction sets of the hot loops' versions, in order.
enum class Isa { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// The best instruction set of this CPU, capped by $VVS_TF_CUSTOM_OPS_ISA (baseline, avx2 or
// avx512; vvs_tf.custom_ops checks the value). Read at every call, so that one process can run
// and compare every version (the tests do).
Isa VectorIsa() {
#if VVS_TF_X86_DISPATCH
  Isa best = Isa::kBaseline;
  if (__builtin_cpu_supports("avx512f")) {
    best = Isa::kAvx512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    best = Isa::kAvx2;
  }
  const char* cap = std::getenv("VVS_TF_CUSTOM_OPS_ISA");
  if (cap != nullptr && std::strcmp(cap, "baseline") == 0) return Isa::kBaseline;
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0) return std::min(best, Isa::kAvx2);
  return best;
#else
  return Isa::kBaseline;
#endif
}

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
      : sample(new float[(n + stride - 1) / stride]), kept_values(new float[n]),
        kept_columns(new int32_t[n]) {}
  std::unique_ptr<float[]> sample;
  std::unique_ptr<float[]> kept_values;
  std::unique_ptr<int32_t[]> kept_columns;
  std::vector<Entry> candidates;  // as many as a row keeps (~1.3 k), grown when a row keeps more
};

// Collect for columns [begin, end), after `kept` scores were kept. Branch-free: each score is
// written to the next free slot, which advances only past kept ones (a branch taken for ~5% of
// scores at random mispredicts). !(x < bound), not x >= bound: NaN scores, which rank first, are
// kept.
int64_t CollectRange(const float* row, int64_t begin, int64_t end, float bound, float* values,
                     int32_t* columns, int64_t kept) {
  for (int64_t j = begin; j < end; ++j) {
    values[kept] = row[j];
    columns[kept] = static_cast<int32_t>(j);
    kept += !(row[j] < bound);
  }
  return kept;
}

#if VVS_TF_X86_DISPATCH
// Collect, 16 scores at a time: the kept lanes are compressed within a register and the register
// is stored whole (a compressing store to memory is slow on some CPUs); the lanes past the kept
// ones are overwritten by the next store. kept <= j, so no store reaches past column n.
__attribute__((target("avx512f,popcnt")))
int64_t CollectAvx512(const float* row, int64_t n, float bound, float* values, int32_t* columns) {
  const __m512 limit = _mm512_set1_ps(bound);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i column = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t kept = 0, j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 scores = _mm512_loadu_ps(row + j);
    const __mmask16 keep = _mm512_cmp_ps_mask(scores, limit, _CMP_NLT_UQ);  // !(x < bound)
    _mm512_storeu_ps(values + kept, _mm512_maskz_compress_ps(keep, scores));
    _mm512_storeu_si512(columns + kept, _mm512_maskz_compress_epi32(keep, column));
    kept += _mm_popcnt_u32(keep);
    column = _mm512_add_epi32(column, step);
  }
  return CollectRange(row, j, n, bound, values, columns, kept);
}
#endif

// The scores of row[0..n) that are not below bound and their columns, in column order, into
// values/columns; returns how many.
int64_t Collect(Isa isa, const float* row, int64_t n, float bound, float* values,
                int32_t* columns) {
#if VVS_TF_X86_DISPATCH
  if (isa == Isa::kAvx512) return CollectAvx512(row, n, bound, values, columns);
#endif
  return CollectRange(row, 0, n, bound, values, columns, 0);
}

// The k entries of row[0..n) that come first under Before, written to values/columns.
void RowTopK(Isa isa, const float* row, int64_t n, int64_t k, int64_t stride, double slack,
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
  float* kept_values = scratch->kept_values.get();
  int32_t* kept_columns = scratch->kept_columns.get();
  int64_t kept = Collect(isa, row, n, bound, kept_values, kept_columns);
  if (kept < k) {  // the sampled bound missed
    kept = Collect(isa, row, n, -INFINITY, kept_values, kept_columns);
  }
  if (static_cast<int64_t>(scratch->candidates.size()) < kept) scratch->candidates.resize(kept);
  Entry* candidates = scratch->candidates.data();
  for (int64_t i = 0; i < kept; ++i) candidates[i] = {kept_values[i], kept_columns[i]};
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
    const Isa isa = VectorIsa();
    auto work = [&](int64_t begin, int64_t end) {
      Scratch scratch(n, stride);
      for (int64_t r = begin; r < end; ++r) {
        RowTopK(isa, in + r * n, n, k, stride, slack, &scratch, out_values + r * k,
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
      TF_RETURN_IF_ERROR(ThreeMatrices(c, &weights, &ids, &rows));
      TF_RETURN_IF_ERROR(c->Merge(weights, ids, &weights));
      c->set_output(0, c->Matrix(c->Dim(weights, 0), c->Dim(rows, 1)));
      return Status();
    });

// Whether every one of the batch x k ids is a row of the n rows; sets the op's error if not.
bool CheckIds(OpKernelContext* context, const int32_t* id, int64_t batch, int64_t k, int64_t n) {
  for (int64_t i = 0; i < batch * k; ++i) {
    if (id[i] < 0 || id[i] >= n) {
      context->SetStatus(InvalidArgument("ids[", i / k, ", ", i % k, "] = ", id[i],
                                         " is not a row of the ", n, " rows"));
      return false;
    }
  }
  return true;
}

// A (query, weight) pair of VvsWeightedRowSum, grouped by the bank row it selected.
struct Selection {
  int32_t query;
  float weight;
};

// What VvsWeightedRowSum's shards share: the bank, the selections grouped by bank row (row j's
// are selections[start[j]..start[j + 1])) and where the shard of each bank row adds them up.
struct RowSum {
  const float* rows;
  int64_t dim;
  const int64_t* start;
  const Selection* selections;
  float* partials;
  int64_t block;  // bank rows per shard; shard s adds into partials[s * batch * dim ...]
  int64_t batch;
};

// partial[query] += weight * rows[j] for every selection of each bank row j in [begin, end), one
// shard. Plain pointers with __restrict, so the compiler vectorises the inner loop without alias
// checks; inlined into one function per instruction set below, each vectorised for its own.
inline __attribute__((always_inline)) void AddSelectedRowsBody(const RowSum& sum, int64_t begin,
                                                                int64_t end) {
  const int64_t dim = sum.dim;
  const int64_t* start = sum.start;
  const Selection* selections = sum.selections;
  float* __restrict partial = sum.partials + (begin / sum.block) * sum.batch * dim;
  for (int64_t j = begin; j < end; ++j) {
    const float* __restrict source = sum.rows + j * dim;
    for (int64_t p = start[j]; p < start[j + 1]; ++p) {
      float* __restrict target = partial + static_cast<int64_t>(selections[p].query) * dim;
      const float weight = selections[p].weight;
      for (int64_t d = 0; d < dim; ++d) target[d] += weight * source[d];
    }
  }
}

void AddSelectedRowsBaseline(const RowSum& sum, int64_t begin, int64_t end) {
  AddSelectedRowsBody(sum, begin, end);
}

#if VVS_TF_X86_DISPATCH
__attribute__((target("avx2,fma"))) void AddSelectedRowsAvx2(const RowSum& sum, int64_t begin,
                                                             int64_t end) {
  AddSelectedRowsBody(sum, begin, end);
}

__attribute__((target("avx512f"))) void AddSelectedRowsAvx512(const RowSum& sum, int64_t begin,
                                                              int64_t end) {
  AddSelectedRowsBody(sum, begin, end);
}
#endif

void AddSelectedRows(Isa isa, const RowSum& sum, int64_t begin, int64_t end) {
#if VVS_TF_X86_DISPATCH
  if (isa == Isa::kAvx512) return AddSelectedRowsAvx512(sum, begin, end);
  if (isa == Isa::kAvx2) return AddSelectedRowsAvx2(sum, begin, end);
#endif
  AddSelectedRowsBaseline(sum, begin, end);
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

    if (!CheckIds(context, id, batch, k, n)) return;
    // Counting sort of the B * k (query, weight) pairs by row id.
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
    const Isa isa = VectorIsa();
    const RowSum sum{row, dim, start.data(), selections.get(), partials.data(), block, batch};
    auto work = [&](int64_t begin, int64_t end) { AddSelectedRows(isa, sum, begin, end); };
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

REGISTER_OP("VvsSharesAnyLabel")
    .Input("labels: T")
    .Input("ids: int32")
    .Input("own: T")
    .Output("shared: bool")
    .Attr("T: {int32, int64}")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle labels, ids, own;
      TF_RETURN_IF_ERROR(ThreeMatrices(c, &labels, &ids, &own));
      shape_inference::DimensionHandle unused;
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(ids, 0), c->Dim(own, 0), &unused));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(labels, 1), c->Dim(own, 1), &unused));
      c->set_output(0, ids);
      return Status();
    });

template <typename T>
class SharesAnyLabelOp : public OpKernel {
 public:
  explicit SharesAnyLabelOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& labels = context->input(0);
    const Tensor& ids = context->input(1);
    const Tensor& own = context->input(2);
    OP_REQUIRES(context, labels.dims() == 2 && ids.dims() == 2 && own.dims() == 2 &&
                             own.dim_size(0) == ids.dim_size(0) &&
                             own.dim_size(1) == labels.dim_size(1),
                InvalidArgument("need labels [N, H], ids [B, k] and own [B, H], got ",
                                labels.shape().DebugString(), ", ", ids.shape().DebugString(),
                                " and ", own.shape().DebugString()));
    const int64_t n = labels.dim_size(0), h = labels.dim_size(1);
    const int64_t batch = ids.dim_size(0), k = ids.dim_size(1);
    const T* label = labels.flat<T>().data();
    const int32_t* id = ids.flat<int32_t>().data();
    const T* own_label = own.flat<T>().data();
    if (!CheckIds(context, id, batch, k, n)) return;
    Tensor* shared = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, ids.shape(), &shared));
    bool* out = shared->flat<bool>().data();
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const T* mine = own_label + b * h;
        for (int64_t j = b * k; j < (b + 1) * k; ++j) {
          const T* theirs = label + static_cast<int64_t>(id[j]) * h;
          bool any = false;
          for (int64_t c = 0; c < h; ++c) any |= theirs[c] == mine[c];
          out[j] = any;
        }
      }
    };
    context->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(
        batch, tensorflow::thread::ThreadPool::SchedulingParams::Adaptive(4 * k * h), work);
  }
};

REGISTER_KERNEL_BUILDER(
    Name("VvsSharesAnyLabel").Device(DEVICE_CPU).TypeConstraint<int32_t>("T"),
    SharesAnyLabelOp<int32_t>);
REGISTER_KERNEL_BUILDER(
    Name("VvsSharesAnyLabel").Device(DEVICE_CPU).TypeConstraint<int64_t>("T"),
    SharesAnyLabelOp<int64_t>);

}  // namespace
}  // namespace vvs_tf
