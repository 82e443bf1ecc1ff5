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

/// The weight gradient of a convolution of binary spikes, event-driven: for every spike (n,ci,y,x) and tap (ky,kx)
/// with output (oy,ox) inside, grad_weight_t[ci,ky,kx,:] += grad_out[n,oy,ox,:]. Layouts: grad_out channels-last
/// [N,Hout,Wout,Cout]; grad_weight_t [Cin,K,K,Cout], zero-filled by the caller. Parallel over input channels, each
/// summed in a fixed order: the same result for any number of threads.
template <typename T>
void sparse_conv2d_weight_grad(const SpikeIndex& in, const T* grad_out, T* grad_weight_t, const ConvShape& shape);

/// The input gradient of a convolution where a mask says it is needed, zero elsewhere: for every set bit of
/// `support` (a bit mask over [N,Cin,H,W], masnn/util/bit_mask.h) at (n,ci,y,x), grad_in[n,ci,y,x] = the sum over
/// taps (ky,kx) with output (oy,ox) = (y+pad-ky, x+pad-kx) inside of dot(weight_t[ci,ky,kx,:], grad_out[n,oy,ox,:]).
/// Layouts: grad_out channels-last [N,Hout,Wout,Cout]; weight_t [Cin,K,K,Cout]; grad_in [N,Cin,H,W], every element
/// written. Work in proportion to the set bits. Parallel over samples and blocks of positions; each element summed
/// in a fixed order: the same result for any number of threads.
template <typename T>
void sparse_conv2d_input_grad(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in,
                              const ConvShape& shape);

}  // namespace masnn::kernels
