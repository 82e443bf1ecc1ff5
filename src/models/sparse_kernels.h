// Event-driven (sparse) synaptic kernels for inputs that are mostly zero, e.g. binary spikes: instead of
// multiplying every input with every weight, the weights of each nonzero input are accumulated into the outputs
// it reaches. Work = nonzeros x fan-out, against the dense layer's inputs x fan-out. Plain pointers, no LibTorch
// types and no knowledge of models. Inner loops run over output channels (contiguous) and vectorise; on x86-64
// with GCC or Clang they are compiled for AVX-512, AVX2 and the baseline, picked at run time.
// Used by sparse inference (masnn/serve/sparse.h) and event-driven training (masnn/models/event_driven_synapse.h).
#pragma once

#include <cstdint>

namespace masnn::kernels {

/// Shape of a 2-D convolution with stride 1, a square K x K kernel, zero padding `pad`, no groups/dilation.
struct ConvShape {
  int64_t batch = 1, in_channels = 1, height = 1, width = 1;
  int64_t out_channels = 1, kernel = 3, pad = 1;
  int64_t out_height() const { return height + 2 * pad - kernel + 1; }
  int64_t out_width() const { return width + 2 * pad - kernel + 1; }
};

/// out = bias + conv(in), event-driven: for every nonzero in[n,ci,y,x] = v and kernel tap (ky,kx) with output
/// (oy,ox) = (y+pad-ky, x+pad-kx) inside the output, out[n,:,oy,ox] += v * weight_t[ci,ky,kx,:].
/// Layouts: in [N,Cin,H,W] (contiguous); weight_t [Cin,K,K,Cout] (the conv weight [Cout,Cin,K,K] transposed);
/// bias [Cout] or null; out [N,Cout,Hout,Wout] (contiguous, as LibTorch's conv). Parallel over samples and
/// output-channel blocks.
template <typename T>
void sparse_conv2d(const T* in, const T* weight_t, const T* bias, T* out, const ConvShape& shape);

/// out = bias + in * W^T, event-driven: for every nonzero in[n,i] = v, out[n,:] += v * weight_t[i,:].
/// Layouts: in [N,In]; weight_t [In,Out] (the linear weight [Out,In] transposed); bias [Out] or null; out [N,Out].
template <typename T>
void sparse_linear(const T* in, const T* weight_t, const T* bias, T* out, int64_t batch, int64_t in_features,
                   int64_t out_features);

/// Number of nonzero entries of in[0..n).
template <typename T>
int64_t count_nonzero(const T* in, int64_t n);

/// Spikes as an index: the positions (y * W + x) of the nonzero entries of each plane (n, c) of [N,C,H,W], in
/// order, plane p's at positions[offsets[p] .. offsets[p + 1]). 4 bytes per spike: what event-driven training
/// keeps of a layer's input for its weight gradient. The values are taken to be 1 (binary spikes).
struct SpikeIndex {
  const int32_t* positions = nullptr;
  const int64_t* offsets = nullptr;  ///< N * C + 1 entries
};

/// counts[p] = nonzero entries of plane p, for `planes` planes of `plane_size` entries each. Parallel over planes.
template <typename T>
void count_plane_nonzeros(const T* in, int64_t planes, int64_t plane_size, int64_t* counts);

/// Writes the positions of the nonzero entries of each plane at positions + offsets[p] (offsets: the exclusive
/// prefix sum of count_plane_nonzeros, planes + 1 entries). Parallel over planes.
template <typename T>
void index_plane_nonzeros(const T* in, int64_t planes, int64_t plane_size, const int64_t* offsets, int32_t* positions);

/// sparse_conv2d on an index of binary spikes (shape.batch x shape.in_channels planes).
template <typename T>
void sparse_conv2d_indexed(const SpikeIndex& in, const T* weight_t, const T* bias, T* out, const ConvShape& shape);

/// sparse_conv2d_indexed reduced to what training-mode BatchNorm2d and average pooling k after it need, without
/// writing the output (each sample's output channels are computed into a per-thread buffer and reduced there):
/// row_sum / row_sumsq [N, Cout] = the sum and the sum of squares of out[n, c] - shift[c] (in double); sums
/// [N, Cout, Hout/k, Wout/k] = the sums of out over each k x k window (with k = 1, out itself). Hout and Wout
/// multiples of k.
template <typename T>
void sparse_conv2d_moments_pool(const SpikeIndex& in, const T* weight_t, const T* bias, const T* shift,
                                const ConvShape& shape, int64_t k, double* row_sum, double* row_sumsq, T* sums);

/// The output of sparse_conv2d_indexed computed again and turned into its gradient through BN + pooling k, written
/// channels-last (the layout the backward kernels below read): dz[n, oy, ox, c] = a[c] * g[n, c, oy/k, ox/k] + b[c]
/// + d[c] * out[n, c, oy, ox], with g [N, Cout, Hout/k, Wout/k]; row_dz [N, Cout] = the sum of dz[n, ..., c] (in
/// double). Parallel over samples and output-channel blocks.
template <typename T>
void sparse_conv2d_norm_pool_grad(const SpikeIndex& in, const T* weight_t, const T* bias, const T* g, const T* a,
                                  const T* b, const T* d, const ConvShape& shape, int64_t k, T* dz, double* row_dz);

/// Samples [begin, end) of a batch: the part of a channels-last output gradient that a backward kernel is given, so
/// that the caller transposes it a chunk at a time. The default, end < 0, is the whole batch.
struct SampleRange {
  int64_t begin = 0, end = -1;
};

/// The weight gradient of a convolution of binary spikes, event-driven: for every spike (n,ci,y,x) of the samples n
/// in `samples` and tap (ky,kx) with output (oy,ox) inside, grad_weight_t[ci,ky,kx,:] += grad_out[n,oy,ox,:].
/// Layouts: grad_out channels-last [N,Hout,Wout,Cout], holding the samples in range only (its first row is sample
/// samples.begin's); grad_weight_t [Cin,K,K,Cout], zero-filled by the caller and accumulated into. Parallel over
/// input channels, each summed in a fixed order (by sample, then spike): the same result for any number of threads,
/// and for any split of the batch into consecutive ranges.
template <typename T>
void sparse_conv2d_weight_grad(const SpikeIndex& in, const T* grad_out, T* grad_weight_t, const ConvShape& shape,
                               SampleRange samples = {});

/// The input gradient of a convolution where a mask says it is needed, zero elsewhere: for every set bit of
/// `support` (a bit mask over [N,Cin,H,W], src/util/bit_mask.h) at (n,ci,y,x), grad_in[n,ci,y,x] = the sum over
/// taps (ky,kx) with output (oy,ox) = (y+pad-ky, x+pad-kx) inside of dot(weight_t[ci,ky,kx,:], grad_out[n,oy,ox,:]).
/// Layouts: grad_out channels-last [N,Hout,Wout,Cout], holding the samples in `samples` only (as for
/// sparse_conv2d_weight_grad); weight_t [Cin,K,K,Cout]; grad_in [N,Cin,H,W], every element of the samples in range
/// written. Work in proportion to the set bits. Parallel over samples and blocks of positions; each element summed in
/// a fixed order: the same result for any number of threads.
template <typename T>
void sparse_conv2d_input_grad(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in,
                              const ConvShape& shape, SampleRange samples = {});

/// A linear layer on binary spikes, event-driven, from the index of its input [N,In] (count_plane_nonzeros and
/// index_plane_nonzeros with planes = N rows of In features: positions are features): out[n,:] = bias + the sum of
/// weight_t[i,:] over the spikes i of row n. weight_t [In,Out]; bias [Out] or null; out [N,Out]. Parallel over rows
/// and output blocks.
template <typename T>
void sparse_linear_indexed(const SpikeIndex& rows, const T* weight_t, const T* bias, T* out, int64_t batch,
                           int64_t out_features);

/// The same spikes indexed by feature: column_offsets (in_features + 1 entries) and column_positions (one per spike)
/// list, for each feature, the rows where it spiked, in increasing order. Sequential (work in proportion to the
/// spikes and features).
void transpose_spike_index(const SpikeIndex& rows, int64_t batch, int64_t in_features, int64_t* column_offsets,
                           int32_t* column_positions);

/// The weight gradient of a linear layer on binary spikes, event-driven: grad_weight_t[i,:] = the sum of
/// grad_out[n,:] over the rows n where feature i spiked (`columns`: transpose_spike_index), in increasing n.
/// grad_out [N,Out]; grad_weight_t [In,Out], every element written. Parallel over features; the same result for any
/// number of threads.
template <typename T>
void sparse_linear_weight_grad(const SpikeIndex& columns, const T* grad_out, T* grad_weight_t, int64_t in_features,
                               int64_t out_features);

/// The input gradient of a linear layer where a mask says it is needed, zero elsewhere: for every set bit (n,i) of
/// `support` (a bit mask over [N,In]), grad_in[n,i] = dot(weight_t[i,:], grad_out[n,:]). grad_out [N,Out]; weight_t
/// [In,Out]; grad_in [N,In], every element written. Parallel over rows; each element summed in a fixed order.
template <typename T>
void sparse_linear_input_grad(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in, int64_t batch,
                              int64_t in_features, int64_t out_features);

}  // namespace masnn::kernels
