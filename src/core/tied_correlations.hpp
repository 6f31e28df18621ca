// eq. 17's correlations of a conv2d layer summed per tied parameter (docs/theory.md,
// "Convolution: shared weights": a tied parameter learns from the sum of its members'
// correlations), computed as dense products instead of synapse by synapse: the filter bank's
// sums are the activities times the im2col patches of the input, the lateral bank's the
// activities times themselves at each lateral offset.
#pragma once

#include "simmatch/network.hpp"

namespace simmatch::detail {

/// Whether `layer` is convolutional with every synapse its geometry defines (then each tied
/// group's sum is a sum over bank entries, which add_tied_correlations computes).
template <typename T>
bool tied_sums_apply(const Layer<T>& layer);

/// For a layer where tied_sums_apply holds: adds to sums_w[g] (w_sharing().groups entries) the
/// sum over the batch and over the members of group g of r_i pre_j, and to sums_l[g]
/// (l_sharing().groups entries) that of r_i r_j: the per-synapse sums of
/// accumulate_correlations added up within each group. pre: the layer's input activities,
/// input_size x batch; post: its own, size x batch (both column-major, contiguous).
/// Parallel over chunks of samples, the chunks' sums added in a fixed order, so the result does
/// not depend on the number of threads.
template <typename T>
void add_tied_correlations(const Layer<T>& layer, const T* pre, const T* post, Index batch, double* sums_w,
                           double* sums_l);

}  // namespace simmatch::detail
