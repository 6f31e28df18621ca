// model_diff A.npz B.npz TOLERANCE: exit 0 when two models have the same structure and every weight
// agrees to |a - b| <= TOLERANCE (1 + |a|); prints the largest difference. Used to compare models
// trained by different numbers of ranks, since python3 here may lack NumPy.
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "simmatch/model_io.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: model_diff A.npz B.npz TOLERANCE\n";
    return 2;
  }
  try {
    const auto a = simmatch::load_model<double>(argv[1]).network;
    const auto b = simmatch::load_model<double>(argv[2]).network;
    const double tolerance = std::atof(argv[3]);
    if (a.num_layers() != b.num_layers()) {
      std::cerr << "model_diff: different numbers of layers\n";
      return 1;
    }
    double worst = 0;
    for (simmatch::Index p = 0; p < a.num_layers(); ++p) {
      for (const auto& [x, y] : {std::pair{&a.layer(p).W(), &b.layer(p).W()},
                                 std::pair{&a.layer(p).L(), &b.layer(p).L()}}) {
        if (x->nonZeros() != y->nonZeros() || x->rows() != y->rows() || x->cols() != y->cols()) {
          std::cerr << "model_diff: layer " << p << " has different structures\n";
          return 1;
        }
        for (simmatch::Index s = 0; s < x->nonZeros(); ++s) {
          const double u = x->valuePtr()[s];
          const double v = y->valuePtr()[s];
          const double d = std::isnan(u) || std::isnan(v) ? INFINITY : std::abs(u - v) / (1 + std::abs(u));
          worst = std::max(worst, d);
        }
      }
    }
    std::cout << "largest relative weight difference " << worst << '\n';
    return worst <= tolerance ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "model_diff: " << e.what() << '\n';
    return 1;
  }
}
