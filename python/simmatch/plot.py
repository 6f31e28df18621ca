"""Plots for simmatch with matplotlib (headless Agg unless a backend is already chosen):
receptive-field mosaics, representational similarity matrices (RSM) and cost curves.

Every function draws into a new figure (or the ``ax`` given), saves it when ``path`` is given,
and returns the matplotlib Figure.
"""

import math

import numpy as np

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
    # Scripts and tests run without a display; an interactive session that already picked a
    # GUI backend (pyplot imported first) keeps it only if pyplot is loaded.
    import sys

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["receptive_fields", "rsm", "similarity_matrix", "rsm_heatmap", "cost_curve"]


def _finish(fig, path, dpi=120):
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def receptive_fields(network, layer=0, neurons=None, max_neurons=64, masked=True, crop=False, ncols=None,
                     cmap="RdBu_r", path=None, title=None):
    """Mosaic of the feedforward weights of `layer` (rows of W), each drawn on the layer's input
    grid, e.g. 28x28 pixels for the first layer on MNIST.

    network: a simmatch.Network. neurons: indices to show (default: evenly spread, at most
    max_neurons). masked: grey out inputs outside the neuron's receptive field (no synapse), as
    the paper's figures do. crop: show only the bounding box of each receptive field (for locally
    connected layers). Each tile has its own symmetric colour scale around 0.
    """
    lay = network.layers[layer]
    h, w, c = lay.input_grid
    if h * w * c != lay.input_size:
        raise ValueError(f"layer {layer}: input grid {lay.input_grid} does not match {lay.input_size} inputs")
    W = lay.W
    cw = lay.cw
    if neurons is None:
        count = min(max_neurons, lay.size)
        neurons = np.unique(np.linspace(0, lay.size - 1, count).round().astype(int))
    neurons = np.asarray(neurons, dtype=int)
    if neurons.size == 0:
        raise ValueError("neurons: nothing to draw")
    ncols = ncols or int(math.ceil(math.sqrt(neurons.size)))
    nrows = int(math.ceil(neurons.size / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.1 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    colormap = matplotlib.colormaps[cmap].copy()
    colormap.set_bad("0.85")
    for ax, n in zip(axes.ravel(), neurons):
        row = W[n].astype(np.float64).reshape(h, w, c)
        present = np.zeros(lay.input_size, dtype=bool)
        present[cw.indices[cw.indptr[n]:cw.indptr[n + 1]]] = True
        present = present.reshape(h, w, c)
        if crop and present.any():
            ys, xs = np.nonzero(present.any(axis=2))
            box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
            row, present = row[box], present[box]
        if masked:
            row = np.ma.masked_array(row, mask=~present)
        # Channels side by side so colour inputs stay readable with any number of channels.
        th, tw = row.shape[:2]
        tile = row.transpose(0, 2, 1).reshape(th, c * tw) if c > 1 else row[:, :, 0]
        scale = float(np.max(np.abs(row))) or 1.0
        ax.imshow(tile, cmap=colormap, vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(str(n), fontsize=6, pad=1)
    fig.suptitle(title or f"layer {layer} receptive fields", fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


def similarity_matrix(R, normalise=True):
    """Representational similarity matrix: pairwise dot products of the rows of R (samples x
    features), divided by the largest absolute entry when normalise (as in the paper)."""
    R = np.asarray(R, dtype=np.float64).reshape(len(R), -1)
    S = R @ R.T
    if normalise:
        top = np.max(np.abs(S))
        if top > 0:
            S = S / top
    return S


def rsm(R, labels=None, ax=None, title="RSM", cmap="viridis", path=None):
    """Heatmap of the similarity matrix of R (samples x features). With labels, samples are
    sorted by label and the label blocks marked."""
    R = np.asarray(R)
    order = np.arange(len(R))
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(R):
            raise ValueError(f"labels: {len(labels)} labels for {len(R)} samples")
        order = np.argsort(labels, kind="stable")
    S = similarity_matrix(R[order])
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.2, 3.6))
    ax = ax or fig.add_subplot(1, 1, 1)
    im = ax.imshow(S, cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if labels is not None:
        sorted_labels = labels[order]
        edges = np.flatnonzero(np.diff(sorted_labels)) + 0.5
        for e in edges:
            ax.axhline(e, color="w", lw=0.5)
            ax.axvline(e, color="w", lw=0.5)
    ax.set_title(title)
    ax.set_xlabel("sample")
    ax.set_ylabel("sample")
    return _finish(fig, path)


# The name used in the docs for the same plot.
rsm_heatmap = rsm


def cost_curve(history, ax=None, key="cost", path=None, title=None, logy=False):
    """Cost (or another metric: key='mean_iterations', 'learning_rate'...) per epoch.

    history: network.history_ (list of metric dicts), a list of such lists (one curve each,
    e.g. several runs), or a plain sequence of numbers."""
    runs = history
    if len(runs) and isinstance(runs[0], dict):
        runs = [runs]
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.5, 3.2))
    ax = ax or fig.add_subplot(1, 1, 1)
    for i, run in enumerate(runs):
        if len(run) and isinstance(run[0], dict):
            epochs = [m["epoch"] for m in run]
            values = [m[key] for m in run]
        else:
            values = list(run)
            epochs = list(range(1, len(values) + 1))
        ax.plot(epochs, values, marker="o", ms=3, label=f"run {i}" if len(runs) > 1 else None)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title(title or f"{key.replace('_', ' ')} per epoch")
    if len(runs) > 1:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path)
