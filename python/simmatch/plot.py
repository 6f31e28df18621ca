"""Plots for simmatch with matplotlib: receptive-field mosaics, representational similarity
matrices (RSM) and metric curves.

Every function draws into the matplotlib Axes given as ``ax`` and returns it, or, without ``ax``,
into a new Figure that it returns. Those figures are made outside pyplot (``matplotlib.figure.
Figure``), so none is left open however many are drawn and no backend is chosen for you: save them
with ``path=`` or ``fig.savefig``, show them in Jupyter by returning them, or pass
``ax=plt.subplots()[1]`` to draw into a pyplot figure of your own.
"""

import math

import numpy as np

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["receptive_fields", "rsm", "similarity_matrix", "rsm_heatmap", "cost_curve"]


def _save(fig, path, dpi=120):
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")


def _tiles(network, layer, neurons, max_neurons, masked, crop, shared_scale):
    """The rows of W to draw as (neuron, 2-D tile, mask of inputs without a synapse), each tile
    divided by its own largest |weight| (or by the layer's when shared_scale), and that scale."""
    lay = network.layers[layer]
    h, w, c = lay.input_grid
    if h * w * c != lay.input_size:
        raise ValueError(f"layer {layer}: input grid {lay.input_grid} does not match {lay.input_size} inputs")
    W = lay.W.astype(np.float64)
    cw = lay.cw
    if neurons is None:
        count = min(max_neurons, lay.size)
        neurons = np.unique(np.linspace(0, lay.size - 1, count).round().astype(int))
    neurons = np.asarray(neurons, dtype=int)
    if neurons.size == 0:
        raise ValueError("neurons: nothing to draw")
    shared = float(np.max(np.abs(W[neurons]))) or 1.0
    tiles = []
    for n in neurons:
        row = W[n].reshape(h, w, c)
        present = np.zeros(lay.input_size, dtype=bool)
        present[cw.indices[cw.indptr[n]:cw.indptr[n + 1]]] = True
        present = present.reshape(h, w, c)
        if crop and present.any():
            ys, xs = np.nonzero(present.any(axis=2))
            box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
            row, present = row[box], present[box]
        # Channels side by side so colour inputs stay readable with any number of channels.
        th, tw = row.shape[:2]
        tile = row.transpose(0, 2, 1).reshape(th, c * tw) if c > 1 else row[:, :, 0]
        hole = ~(present.transpose(0, 2, 1).reshape(th, c * tw) if c > 1 else present[:, :, 0])
        scale = shared if shared_scale else (float(np.max(np.abs(tile))) or 1.0)
        tiles.append((int(n), tile / scale, hole if masked else np.zeros_like(hole)))
    return tiles, shared


def receptive_fields(network, layer=0, neurons=None, max_neurons=64, masked=True, crop=False, ncols=None,
                     cmap="RdBu_r", shared_scale=False, colorbar=True, ax=None, path=None, title=None):
    """Mosaic of the feedforward weights of `layer` (rows of W), each drawn on the layer's input
    grid, e.g. 28x28 pixels for the first layer on MNIST.

    network: a simmatch.Network (or a fitted SimilarityMatching: its network_). neurons: indices
    to show (default: evenly spread, at most max_neurons). masked: grey out inputs outside the
    neuron's receptive field (no synapse), as the paper's figures do. crop: show only the bounding
    box of each receptive field (for locally connected layers). Each tile is divided by its own
    largest |weight| (shared_scale=True: by the largest of all tiles, so tiles compare), and the
    colour bar gives that scale. Without ax: one subplot per neuron in a new Figure (returned);
    with ax: the tiles side by side in that Axes (returned).
    """
    network = getattr(network, "network_", network)
    tiles, shared = _tiles(network, layer, neurons, max_neurons, masked, crop, shared_scale)
    ncols = ncols or int(math.ceil(math.sqrt(len(tiles))))
    nrows = int(math.ceil(len(tiles) / ncols))
    colormap = matplotlib.colormaps[cmap].copy()
    colormap.set_bad("0.85")
    label = f"weight / {shared:.3g}" if shared_scale else "weight / largest |weight| of its tile"
    title = title or f"layer {layer} receptive fields"

    if ax is None:
        fig = Figure(figsize=(1.1 * ncols + 0.8, 1.1 * nrows + 0.3))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for a in axes.ravel():
            a.axis("off")
        image = None
        for a, (n, tile, hole) in zip(axes.ravel(), tiles):
            image = a.imshow(np.ma.masked_array(tile, mask=hole), cmap=colormap, vmin=-1, vmax=1,
                             interpolation="nearest")
            a.set_title(str(n), fontsize=6, pad=1)
        fig.suptitle(title, fontsize=9)
        if colorbar:
            fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02).set_label(label, fontsize=7)
        _save(fig, path)
        return fig

    # One image in the given Axes: tiles on a grid with one masked pixel between them.
    th = max(t.shape[0] for _, t, _ in tiles)
    tw = max(t.shape[1] for _, t, _ in tiles)
    canvas = np.full((nrows * (th + 1) - 1, ncols * (tw + 1) - 1), np.nan)
    for i, (n, tile, hole) in enumerate(tiles):
        r, c = divmod(i, ncols)
        y, x = r * (th + 1), c * (tw + 1)
        canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = np.where(hole, np.nan, tile)
    image = ax.imshow(np.ma.masked_invalid(canvas), cmap=colormap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(label)
    _save(ax.figure, path)
    return ax


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
    """Heatmap of the similarity matrix of R (samples x features) with a colour bar. With labels,
    samples are sorted by label and the label blocks marked. Returns the new Figure, or ax."""
    R = np.asarray(R)
    order = np.arange(len(R))
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(R):
            raise ValueError(f"labels: {len(labels)} labels for {len(R)} samples")
        order = np.argsort(labels, kind="stable")
    S = similarity_matrix(R[order])
    fig = Figure(figsize=(4.2, 3.6)) if ax is None else None
    target = ax if ax is not None else fig.add_subplot(1, 1, 1)
    im = target.imshow(S, cmap=cmap, interpolation="nearest")
    target.figure.colorbar(im, ax=target, fraction=0.046, pad=0.04)
    if labels is not None:
        sorted_labels = labels[order]
        edges = np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 0.5
        for e in edges:
            target.axhline(e, color="w", lw=0.5)
            target.axvline(e, color="w", lw=0.5)
    target.set_title(title)
    target.set_xlabel("sample")
    target.set_ylabel("sample")
    _save(target.figure, path)
    return fig if fig is not None else ax


# The name used in the docs for the same plot.
rsm_heatmap = rsm


def cost_curve(history, ax=None, key="cost", path=None, title=None, logy=False):
    """Cost (or another metric: key='mean_iterations', 'learning_rate'...) per epoch, on integer
    epoch ticks. Returns the new Figure, or ax.

    history: network.history_ (list of metric dicts), a list of such lists (one curve each,
    e.g. several runs), or a plain sequence of numbers."""
    history = getattr(history, "history_", history)
    runs = history
    if len(runs) and isinstance(runs[0], dict):
        runs = [runs]
    fig = Figure(figsize=(4.5, 3.2)) if ax is None else None
    target = ax if ax is not None else fig.add_subplot(1, 1, 1)
    for i, run in enumerate(runs):
        if len(run) and isinstance(run[0], dict):
            epochs = [m["epoch"] for m in run]
            values = [m[key] for m in run]
        else:
            values = list(run)
            epochs = list(range(1, len(values) + 1))
        target.plot(epochs, values, marker="o", ms=3, label=f"run {i}" if len(runs) > 1 else None)
    if logy:
        target.set_yscale("log")
    target.xaxis.set_major_locator(MaxNLocator(integer=True))
    target.set_xlabel("epoch")
    target.set_ylabel(key.replace("_", " "))
    target.set_title(title or f"{key.replace('_', ' ')} per epoch")
    if len(runs) > 1:
        target.legend(fontsize=7)
    target.grid(alpha=0.3)
    if fig is not None:
        fig.tight_layout()
    _save(target.figure, path)
    return fig if fig is not None else ax
