"""The scikit-learn workflow on Fashion-MNIST: a Pipeline of StandardScaler, the similarity-matching
layer (SimilarityMatching) and LogisticRegression, against the same pipeline without the layer,
then a grid search over one parameter (neurons per site) with cross-validation.

    /usr/bin/python3 python/examples/fashion_pipeline.py --out runs/fashion-pipeline

Data: Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist). Prints the
figures docs/python.md quotes and writes them to OUT/results.json.
"""

import argparse
import json
import os
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import simmatch

FASHION = "/usr/share/datasets/fashion-mnist"


def fashion(split, limit, folder):
    """Images as (samples, 784) float32 in [0, 1] (simmatch's IDX reader, pixels / 255) and labels."""
    prefix = "train" if split == "train" else "t10k"
    X, y = simmatch.load_data(format="idx", path=os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"),
                              labels=os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), limit=limit,
                              scale="byte", subtract_mean=False)
    return np.asarray(X).reshape(len(X), -1), y


def layer(neurons_per_site):
    return [dict(type="local2d", stride=2, radius=4.0, neurons_per_site=neurons_per_site)]


def scaler(args):
    """StandardScaler: each pixel to mean 0 and variance 1 ("standard"), or to mean 0 only ("center")."""
    return StandardScaler(with_std=args.scaler == "standard")


def pipeline(args, neurons_per_site, verbose=0):
    return Pipeline([
        ("scale", scaler(args)),
        ("simmatch", simmatch.SimilarityMatching(input_shape=(28, 28), layers=layer(neurons_per_site),
                                                 epochs=args.epochs, samples_per_epoch=args.samples_per_epoch,
                                                 cost_samples=0, seed=0, verbose=verbose)),
        ("classify", LogisticRegression(max_iter=args.max_iter)),
    ])


def timed(what, f):
    start = time.perf_counter()
    value = f()
    seconds = time.perf_counter() - start
    print(f"{what}: {seconds:.1f} s", flush=True)
    return value, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION, help="folder of the Fashion-MNIST IDX files")
    parser.add_argument("--train", type=int, default=10000, help="training images (the first of the 60,000)")
    parser.add_argument("--test", type=int, default=2000, help="test images (the first of the 10,000)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples-per-epoch", type=int, default=1000)
    parser.add_argument("--neurons-per-site", type=int, default=4)
    parser.add_argument("--grid", default="2,4,8", help="neurons per site tried by the grid search")
    parser.add_argument("--grid-train", type=int, default=3000, help="training images of the grid search")
    parser.add_argument("--cv", type=int, default=3, help="folds of the grid search")
    parser.add_argument("--max-iter", type=int, default=1000, help="LogisticRegression's max_iter")
    parser.add_argument("--scaler", choices=["standard", "center"], default="center",
                        help="StandardScaler() or StandardScaler(with_std=False)")
    parser.add_argument("--out", default="runs/fashion-pipeline")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    X, y = fashion("train", args.train, args.data)
    X_test, y_test = fashion("test", args.test, args.data)
    print(f"Fashion-MNIST: {len(X)} training and {len(X_test)} test images of {X.shape[1]} pixels")

    baseline = Pipeline([("scale", scaler(args)), ("classify", LogisticRegression(max_iter=args.max_iter))])
    _, baseline_fit = timed("pixels pipeline fit", lambda: baseline.fit(X, y))
    baseline_accuracy = baseline.score(X_test, y_test)
    print(f"{baseline.named_steps['scale']} + LogisticRegression on pixels: test accuracy {baseline_accuracy:.4f}")

    pipe = pipeline(args, args.neurons_per_site, verbose=1)
    _, pipe_fit = timed("simmatch pipeline fit", lambda: pipe.fit(X, y))
    accuracy, pipe_score = timed("simmatch pipeline score", lambda: pipe.score(X_test, y_test))
    print(f"{baseline.named_steps['scale']} + SimilarityMatching ({args.neurons_per_site} per site) + LogisticRegression: "
          f"test accuracy {accuracy:.4f}")

    grid = [int(n) for n in args.grid.split(",")]
    search = GridSearchCV(pipeline(args, grid[0]), {"simmatch__layers": [layer(n) for n in grid]}, cv=args.cv)
    _, search_seconds = timed("grid search", lambda: search.fit(X[:args.grid_train], y[:args.grid_train]))
    rows = []
    for params, mean, std, fit_time in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"],
                                           search.cv_results_["std_test_score"], search.cv_results_["mean_fit_time"]):
        n = params["simmatch__layers"][0]["neurons_per_site"]
        rows.append(dict(neurons_per_site=n, mean_cv_accuracy=mean, std=std, mean_fit_seconds=fit_time))
        print(f"  {n} per site: cv accuracy {mean:.4f} +- {std:.4f}, fit {fit_time:.1f} s")
    best = search.best_params_["simmatch__layers"][0]["neurons_per_site"]
    best_test = search.score(X_test, y_test)
    print(f"grid search best: {best} per site, test accuracy of its refit {best_test:.4f}")

    results = dict(scaler=args.scaler, train=len(X), test=len(X_test), epochs=args.epochs, samples_per_epoch=args.samples_per_epoch,
                   neurons_per_site=args.neurons_per_site, baseline_accuracy=baseline_accuracy,
                   baseline_fit_seconds=baseline_fit, pipeline_accuracy=accuracy, pipeline_fit_seconds=pipe_fit,
                   pipeline_score_seconds=pipe_score, grid_train=args.grid_train, cv=args.cv, grid=rows,
                   grid_best=best, grid_best_test_accuracy=best_test, grid_seconds=search_seconds,
                   history=pipe.named_steps["simmatch"].history_)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    print("wrote", os.path.join(args.out, "results.json"))


if __name__ == "__main__":
    main()
