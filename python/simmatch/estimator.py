"""scikit-learn estimator for structured and deep similarity-matching networks.

``SimilarityMatching`` is a transformer: ``fit`` learns the network's weights from X alone with
the local rules of eq. 17 (docs/theory.md), ``transform`` returns the fixed points of the neural
dynamics (eq. 15), ``score`` is minus the cost of eq. 11. It works in ``Pipeline``, ``clone``,
``GridSearchCV`` and ``cross_val_score`` and passes ``sklearn.utils.estimator_checks``
(tests/python/test_estimator.py). It builds a :class:`simmatch.Network` (the low-level API) in
``fit`` and keeps it as ``network_``.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(StandardScaler(), SimilarityMatching(input_shape=(28, 28), epochs=2),
    ...                      LogisticRegression(max_iter=1000))
    >>> pipe.fit(X, y).score(X_test, y_test)
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from . import _simmatch
from ._convergence import relay

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # Debian 12's 1.2

    def _validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)


__all__ = ["SimilarityMatching"]


def _table_defaults():
    """Defaults of the parameter table (src/config/params.cpp), the single place they are declared."""
    defaults = {}
    for p in _simmatch.parameters():
        if p["per_layer"]:
            continue
        value = p["default"]
        defaults[p["key"]] = float(value) if p["type"] == "real" else value
    return defaults


_D = _table_defaults()

# Constructor parameter -> key of the parameter table. Data, preprocessing and output keys are the
# CLI's business (files); the estimator takes arrays and returns arrays.
_TABLE_KEYS = {
    "activation": "network.activation",
    "gain": "network.gain",
    "clip": "network.clip",
    "gamma": "network.gamma",
    "precision": "network.precision",
    "method": "solver.method",
    "tolerance": "solver.tolerance",
    "max_steps": "solver.max_steps",
    "step_initial": "solver.step_initial",
    "step_decay": "solver.step_decay",
    "step_min": "solver.step_min",
    "anderson_depth": "solver.anderson_depth",
    "anderson_mixing": "solver.anderson_mixing",
    "anderson_restart": "solver.anderson_restart",
    "newton_max_site": "solver.newton_max_site",
    "epochs": "train.epochs",
    "samples_per_epoch": "train.samples_per_epoch",
    "batch_size": "train.batch_size",
    "eta": "train.eta",
    "schedule": "train.schedule",
    "decay": "train.decay",
    "floor": "train.floor",
    "cost_samples": "train.cost_samples",
    "shuffle": "train.shuffle",
    "checkpoint_every": "train.checkpoint_every",
    "on_nan": "train.on_nan",
    "on_nonconvergence": "train.on_nonconvergence",
    "seed": "seed",
}


def _store_parameters(estimator, arguments):
    """Stores every constructor argument (``locals()`` of ``__init__``) under its own name, unchanged:
    scikit-learn's BaseEstimator reads the parameters back by name (get_params, clone)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


def _shape_text(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class _NetworkInput:
    """What both estimators do with X: the dtype of ``precision``, X validated into C-contiguous
    float rows (images flattened), and the (height, width, channels) of one sample."""

    def _dtype(self):
        """The NumPy dtype of ``precision`` (float32 when it names none: the network refuses it)."""
        try:
            dtype = np.dtype(self.precision)
        except TypeError:
            return np.dtype(np.float32)
        return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)

    def _check_X(self, X, reset, y=None):
        """X as a 2-D float array (C-contiguous rows = samples), or (X, y) when y is given, and the
        image shape of its samples when it came as (samples, height, width[, channels])."""
        image_shape = None
        if not hasattr(X, "columns"):  # DataFrames are 2-D and keep their feature names
            array = np.asarray(X) if not hasattr(X, "toarray") else X
            if getattr(array, "ndim", 2) > 2:
                if array.ndim > 4:
                    raise ValueError(f"X: expected (samples, features) or (samples, height, width[, channels]), "
                                     f"got shape {_shape_text(array.shape)}")
                image_shape = array.shape[1:]
                X = array.reshape(len(array), -1)
        own = self._dtype()
        other = np.float64 if own == np.float32 else np.float32
        if y is not None:
            return _validate_data(self, X, y=y, reset=reset, dtype=[own, other], order="C"), image_shape
        X = _validate_data(self, X, reset=reset, dtype=[own, other], order="C")
        return X, image_shape

    def _sample_shape(self, n_features, image_shape):
        """(height, width, channels) of one sample: input_shape, else X's image shape, else flat."""
        if self.input_shape is not None:
            shape = tuple(int(s) for s in np.atleast_1d(self.input_shape))
            if not 1 <= len(shape) <= 3:
                raise ValueError(f"input_shape: expected (height, width[, channels]), got {self.input_shape!r}")
            size = int(np.prod(shape))
            if size != n_features:
                hint = ""
                if image_shape is None and n_features in shape:
                    hint = (f"; a single image of shape {_shape_text(shape[:2])} reads as {shape[0]} samples of "
                            f"{n_features} features: pass X[None] for one sample")
                raise ValueError(f"X: samples have {n_features} features but input_shape "
                                 f"{_shape_text(shape)} holds {size}{hint}")
            if len(shape) == 1:
                return (1, shape[0], 1)
            return shape + (1,) if len(shape) == 2 else shape
        if image_shape is not None:
            return tuple(image_shape) + (1,) if len(image_shape) == 2 else tuple(image_shape)
        return (1, n_features, 1)


class SimilarityMatching(TransformerMixin, _NetworkInput, BaseEstimator):
    """Structured and deep similarity matching (Obeid, Ramambason & Pehlevan, NeurIPS 2019) as a
    scikit-learn transformer.

    Parameters are stored as given; the network is built by ``fit`` from X's shape. Every
    parameter but the first five is a key of the parameter table (``simmatch.parameters()``,
    docs/parameters.md) under its short name, with the table's default.

    Parameters
    ----------
    input_shape : tuple (height, width[, channels]) or None
        Shape of one sample. None: taken from X, whose samples are images when X has 3 or 4
        dimensions (samples, height, width[, channels]) and flat vectors when it has 2. Give it to
        fit images that come flattened, e.g. after a StandardScaler in a Pipeline.
    layers : list of dict or None
        Per-layer parameters, input side first, e.g. ``[dict(type="local2d", stride=2, radius=4,
        neurons_per_site=4)]`` (the keys of a ``[[layers]]`` table). None: the reference locally
        connected layer for image samples, one dense layer of ``n_components`` neurons for flat ones.
    n_components : int or None
        Neurons of the default dense layer for flat samples (None: as many as X has features).
        Only used when ``layers`` is None and the samples are flat.
    output_layer : int
        The layer whose activities ``transform`` returns (negative counts from the top).
    pool : str or None
        Pool ``transform``'s output over windows of sites, filter by filter, as ``simmatch encode
        --pool``: ``"max:4"`` (4 x 4 windows, stride 4), ``"avg:W"``, ``"max:W:S"``, ...; None keeps
        every activity. The usual read-out of conv2d layers.
    verbose : int
        0 silent; 1 reports each epoch and the progress within it on stderr (an updating bar on a
        terminal, else a line at most every 10 s); 2 reports progress every 0.5 s.
    activation, gain, clip, gamma, precision
        network.* keys: activation f of every layer, tanh gain, clipped_relu bound, feedback
        strength, float32 or float64 (the dtype of ``transform``'s output).
    method, tolerance, max_steps, step_initial, step_decay, step_min, anderson_depth, \
anderson_mixing, anderson_restart, newton_max_site
        solver.* keys of the fixed-point solver of eq. 15.
    epochs, samples_per_epoch, batch_size, eta, schedule, decay, floor, cost_samples, shuffle, \
checkpoint_every, on_nan, on_nonconvergence
        train.* keys of eq. 17's training (``fit`` trains ``epochs`` epochs from a fresh network).
    seed : int
        Seed of the weight initialisation and of the sample order: the same seed and data give the
        same model, bit for bit.

    Attributes
    ----------
    network_ : simmatch.Network
        The trained network (the low-level API: layers, weights, save, ...).
    input_shape_ : tuple
        The (height, width, channels) of one sample the network was built for.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had feature names (a pandas DataFrame).
    history_ : list of dict
        Metrics of every epoch trained (epoch, learning_rate, cost, mean_iterations, ...).
    """

    def __init__(
        self,
        *,
        input_shape=None,
        layers=None,
        n_components=None,
        output_layer=-1,
        pool=None,
        verbose=0,
        activation=_D["network.activation"],
        gain=_D["network.gain"],
        clip=_D["network.clip"],
        gamma=_D["network.gamma"],
        precision=_D["network.precision"],
        method=_D["solver.method"],
        tolerance=_D["solver.tolerance"],
        max_steps=_D["solver.max_steps"],
        step_initial=_D["solver.step_initial"],
        step_decay=_D["solver.step_decay"],
        step_min=_D["solver.step_min"],
        anderson_depth=_D["solver.anderson_depth"],
        anderson_mixing=_D["solver.anderson_mixing"],
        anderson_restart=_D["solver.anderson_restart"],
        newton_max_site=_D["solver.newton_max_site"],
        epochs=_D["train.epochs"],
        samples_per_epoch=_D["train.samples_per_epoch"],
        batch_size=_D["train.batch_size"],
        eta=_D["train.eta"],
        schedule=_D["train.schedule"],
        decay=_D["train.decay"],
        floor=_D["train.floor"],
        cost_samples=_D["train.cost_samples"],
        shuffle=_D["train.shuffle"],
        checkpoint_every=_D["train.checkpoint_every"],
        on_nan=_D["train.on_nan"],
        on_nonconvergence=_D["train.on_nonconvergence"],
        seed=_D["seed"],
    ):
        _store_parameters(self, locals())

    # ---- scikit-learn API ---------------------------------------------------------------------

    def fit(self, X, y=None, *, checkpoint=None, resume=False, callback=None):
        """Builds a fresh network for X's samples and trains it for ``epochs`` epochs.

        X: (samples, features) or (samples, height, width[, channels]); y is ignored.
        checkpoint: a path where the run is saved after every epoch (and every
        ``checkpoint_every`` batches); resume=True continues the run saved there (same X and
        parameters) to ``epochs`` epochs, giving the model the uninterrupted run gives.
        callback(metrics) runs after each epoch; returning True stops training.
        A failing fit (NaN/Inf, Ctrl-C) raises with ``network_`` as it was before the failing
        batch. Returns self.
        """
        X, image_shape = self._check_X(X, reset=True)
        self.input_shape_ = self._sample_shape(X.shape[1], image_shape)
        self.network_ = relay(self._build_network)
        relay(self.network_.fit, X, epochs=self.epochs, callback=callback, verbose=self.verbose,
              checkpoint=checkpoint, resume=resume)
        return self

    def partial_fit(self, X, y=None):
        """One pass over X in order at a constant learning rate (the schedule's rate at the current
        epoch): with batch_size 1 the exact online rule of eq. 17. The first call builds the
        network from X's shape. Returns self."""
        first = not hasattr(self, "network_")
        X, image_shape = self._check_X(X, reset=first)
        if first:
            self.input_shape_ = self._sample_shape(X.shape[1], image_shape)
            self.network_ = relay(self._build_network)
        relay(self.network_.partial_fit, X)
        return self

    def transform(self, X):
        """Fixed points of the dynamics (eq. 15): (samples, N) activities of ``output_layer``,
        in the network's precision."""
        check_is_fitted(self, "network_")
        X, _ = self._check_X(X, reset=False)
        return relay(self.network_.transform, X, layer=self.output_layer, pool=self.pool)

    def score(self, X, y=None):
        """Minus the structured deep cost of eq. 11 on X at its fixed points (higher is better)."""
        check_is_fitted(self, "network_")
        X, _ = self._check_X(X, reset=False)
        return -relay(self.network_.cost, X)

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: "similaritymatching0", "similaritymatching1", ..."""
        check_is_fitted(self, "network_")
        if input_features is not None:
            from sklearn.utils.validation import _check_feature_names_in

            _check_feature_names_in(self, input_features)
        prefix = type(self).__name__.lower()
        size = self.network_.layer_sizes[self.output_layer]
        if self.pool is not None:
            size = int(np.prod(self.network_.layers[self.output_layer].pooled_grid(self.pool)))
        return np.asarray([f"{prefix}{i}" for i in range(size)], dtype=object)

    @property
    def history_(self):
        check_is_fitted(self, "network_")
        return self.network_.history_

    def _more_tags(self):
        return {
            # transform returns the network's precision, whatever X's float type.
            "preserves_dtype": [self._dtype().name],
            "X_types": ["2darray"],
        }

    def _build_network(self):
        parameters = {key: getattr(self, name) for name, key in _TABLE_KEYS.items()}
        image = self.input_shape_[0] > 1
        layers = self.layers
        if layers is None:
            if not image:
                n = self.n_components if self.n_components is not None else self.input_shape_[1] * self.input_shape_[2]
                layers = [dict(type="dense", neurons=n)]
        elif self.n_components is not None:
            raise ValueError("n_components sizes the default dense layer; with `layers` given, set `neurons` there")
        return _simmatch.Network(self.input_shape_, layers=layers, **parameters)
