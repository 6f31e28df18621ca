// Basic numeric types shared by the whole library: index type and Eigen aliases.
// Batches are column-major N x B matrices: column b holds sample b (same memory as row-major B x N).
#pragma once

#include <Eigen/Core>
#include <Eigen/SparseCore>
#include <cstdint>
#include <type_traits>

namespace simmatch {

using Index = std::int64_t;

/// Dense column-major matrix; for batches of activities, N_p x B (one column per sample).
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Sparse weights in compressed row storage; row = receiving neuron, column = sending neuron.
/// The non-zeros are exactly the synapses of the matching Structure, in the same order.
template <typename T>
using SparseWeights = Eigen::SparseMatrix<T, Eigen::RowMajor, int>;

template <typename T>
using ConstMatrixRef = Eigen::Ref<const Matrix<T>>;

/// Keeps a parameter out of template deduction, so T is taken from the Network argument and
/// any Eigen expression (a block, a Map) can be passed where a ConstMatrixRef is expected.
template <typename T>
using NonDeduced = std::type_identity_t<T>;

}  // namespace simmatch
