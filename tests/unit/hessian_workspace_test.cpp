// HessianWorkspace::current: within one solve (a HessianWorkspace::Solve scope) the check for a
// unique fixed point and the Newton polish share the Hessian prepared for the solve's network;
// outside a scope, or before anything was prepared in it, current() prepares afresh, since the
// workspace outlives the weights (a trainer keeps it across batches).
#include <gtest/gtest.h>

#include "core/energy_hessian.hpp"
#include "test_networks.hpp"

using namespace simmatch;

namespace {

// Two layers with feedback; `scale` multiplies L's diagonal, which sets the Hessian's diagonal scale.
Network<double> network_with_lateral_scale(double scale) {
  Network<double> net = test_support::random_network<double>({4, 5, 3}, 0.5, Activation::tanh(), 3);
  for (Index p = 0; p < net.num_layers(); ++p) {
    auto& L = net.layer(p).L();
    for (Index i = 0; i < L.rows(); ++i) L.coeffRef(i, i) *= scale;
  }
  return net;
}

}  // namespace

TEST(HessianWorkspaceTest, ASolveReusesItsOwnHessianAndNothingOutlivesIt) {
  const Network<double> before = network_with_lateral_scale(1.0);
  const Network<double> after = network_with_lateral_scale(3.0);  // the weights of the next batch
  const double scale_before = detail::EnergyHessian<double>(before).diagonal_scale();
  const double scale_after = detail::EnergyHessian<double>(after).diagonal_scale();
  ASSERT_GT(scale_after, 2.0 * scale_before);

  detail::HessianWorkspace<double> workspace;
  // Outside a solve: always the network it is given.
  workspace.prepare(before);
  EXPECT_EQ(workspace.current(after).diagonal_scale(), scale_after);
  {
    const detail::HessianWorkspace<double>::Solve solve(workspace);
    // Nothing prepared in this solve yet: what an earlier solve left is not reused.
    EXPECT_EQ(workspace.current(before).diagonal_scale(), scale_before);
  }
  {
    const detail::HessianWorkspace<double>::Solve solve(workspace);
    const detail::EnergyHessian<double>* prepared = &workspace.prepare(after);
    // Prepared in this solve: the same Hessian, not refreshed (a solve's network does not change).
    EXPECT_EQ(&workspace.current(after), prepared);
    EXPECT_EQ(workspace.current(before).diagonal_scale(), scale_after);
  }
  // The scope is over: the next batch's weights are read again.
  EXPECT_EQ(workspace.current(before).diagonal_scale(), scale_before);
}
