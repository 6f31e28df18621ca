"""scikit-learn classifiers: contrastive similarity matching (docs/theory.md, "Contrastive
similarity matching"; Qin, Mudur & Pehlevan, Neural Computation 2021) and supervised similarity
matching with the labels as an input (docs/theory.md, "Supervised similarity matching: labels as
an input").

``ContrastiveClassifier`` trains a deep similarity-matching network with feedback whose top layer
has one neuron per class: each batch is solved free, then nudged towards the one-hot labels from
the free fixed point, and the synapses learn from the difference (train.mode = "contrastive").
``predict`` is the class of the largest top-layer activity at the free fixed point,
``decision_function`` those activities (no external classifier, no probabilities), ``score`` the
accuracy. It passes scikit-learn's estimator checks (tests/python/test_classifier.py).

``SupervisedClassifier`` trains the similarity-matching network itself with the labels as a
further input of its top layer (label synapses V, train.mode = "supervised"); at test time the
labels are absent and V^T r scores the classes.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> clf = make_pipeline(StandardScaler(), ContrastiveClassifier(hidden_layers=[dict(type="dense", neurons=200)]))
    >>> clf.fit(X, y).score(X_test, y_test)
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _simmatch
from ._convergence import relay
from .estimator import _D, _TABLE_KEYS, _NetworkInput, _store_parameters

__all__ = ["ContrastiveClassifier", "SupervisedClassifier"]

_CONTRASTIVE_KEYS = dict(
    _TABLE_KEYS,
    beta="train.beta",
    nudge="train.nudge",
    label_scale="train.label_scale",
    validation_fraction="train.validation",
)
_SUPERVISED_KEYS = dict(_TABLE_KEYS, label_scale="train.label_scale", validation_fraction="train.validation")


class _LabelledNetwork(ClassifierMixin, _NetworkInput):
    """fit / predict / decision_function of a network trained with labels (train.mode = _MODE);
    subclasses say how the network is built and how its output scores the classes."""

    _MODE = None

    def fit(self, X, y, *, callback=None):
        """Builds the network for the classes of y and trains it for ``epochs`` epochs. Returns self."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        (X, y), image_shape = self._check_X(X, reset=True, y=y)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y: {self._MODE} training needs at least 2 classes, got 1 class ({self.classes_[0]!r})")
        self.input_shape_ = self._sample_shape(X.shape[1], image_shape)
        self.network_ = relay(self._build_network, len(self.classes_))
        relay(self.network_.fit, X, y=encoded.astype(np.int64), epochs=self.epochs, callback=callback,
              verbose=self.verbose)
        return self

    def decision_function(self, X):
        """The class scores at the free fixed point (no label input): (samples, classes), or for two
        classes (samples,) the second class's score minus the first's (scikit-learn's convention:
        > 0 means classes_[1])."""
        check_is_fitted(self, "network_")
        X, _ = self._check_X(X, reset=False)
        scores = self._class_scores(relay(self.network_.transform, X, layer=-1))
        if len(self.classes_) == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X):
        """The class of the largest score (the network's own prediction)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    @property
    def history_(self):
        check_is_fitted(self, "network_")
        return self.network_.history_

    def _more_tags(self):
        return {"X_types": ["2darray"], "binary_only": False}

    def _hidden(self):
        return [dict(layer) for layer in self.hidden_layers] if self.hidden_layers is not None else [
            dict(type="dense", neurons=self.n_hidden)
        ]


class ContrastiveClassifier(_LabelledNetwork, BaseEstimator):
    """Contrastive similarity matching as a scikit-learn classifier.

    Parameters
    ----------
    input_shape : tuple (height, width[, channels]) or None
        Shape of one sample; None: X's own (images when X has 3 or 4 dimensions, else flat).
    hidden_layers : list of dict or None
        The hidden layers, input side first (keys of a ``[[layers]]`` table); the output layer,
        one dense neuron per class, is added by ``fit``. None: one dense layer of ``n_hidden``.
    n_hidden : int
        Neurons of the default hidden layer.
    verbose : int
        0 silent; 1 reports each epoch on stderr.
    beta : float
        Nudge strength of the nudged phase (train.beta; < 1 / step_initial).
    nudge : {"one_sided", "symmetric"}
        ``"one_sided"``: the nudged phase at +beta alone (the paper's rule); ``"symmetric"``: a
        phase at +beta and one at -beta, W learning from their difference (train.nudge). The
        one-sided estimate's O(beta) bias costs accuracy on small problems: on scikit-learn's three
        blobs 0.86 against 0.92 for "symmetric" (docs/python.md, ContrastiveClassifier).
    label_scale : float
        Height of the one-hot targets (train.label_scale).
    output_layer : dict or None
        Further keys of the output layer's ``[[layers]]`` table, e.g. ``dict(lateral_rate=1e-3)``
        (its ``type`` and ``neurons`` are set by ``fit``: dense, one neuron per class).
    validation_fraction : float
        Share of the training samples held out, stratified, and scored by the network's own
        output after each epoch (train.validation; ``history_``'s ``validation_accuracy``);
        0 trains on every sample.
    gamma : float
        Feedback strength (> 0: the nudge reaches the hidden layers only through feedback).
    activation, gain, clip, precision, method, tolerance, max_steps, step_initial, step_decay, \
step_min, anderson_depth, anderson_mixing, anderson_restart, newton_max_site, epochs, \
samples_per_epoch, batch_size, eta, schedule, decay, floor, cost_samples, shuffle, \
checkpoint_every, on_nan, on_nonconvergence, seed
        Keys of the parameter table (docs/parameters.md) under their short names; defaults that
        differ from the table's suit small problems (batch 10, constant rate 0.05, 20 epochs).

    Attributes
    ----------
    classes_ : ndarray
        The class labels, in the order of the output neurons.
    network_ : simmatch.Network
    n_features_in_ : int
    history_ : list of dict
    """

    def __init__(
        self,
        *,
        input_shape=None,
        hidden_layers=None,
        n_hidden=100,
        verbose=0,
        beta=0.5,
        nudge="one_sided",
        label_scale=1.0,
        output_layer=None,
        validation_fraction=0.0,
        activation="tanh",
        gain=_D["network.gain"],
        clip=_D["network.clip"],
        gamma=0.5,
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
        epochs=20,
        samples_per_epoch=0,
        batch_size=10,
        eta=0.05,
        schedule="constant",
        decay=_D["train.decay"],
        floor=_D["train.floor"],
        cost_samples=0,
        shuffle=True,
        checkpoint_every=0,
        on_nan=_D["train.on_nan"],
        on_nonconvergence=_D["train.on_nonconvergence"],
        seed=_D["seed"],
    ):
        _store_parameters(self, locals())

    # ---- helpers ------------------------------------------------------------------------------

    _MODE = "contrastive"

    def _build_network(self, classes):
        # The hidden layers + one output neuron per class.
        parameters = {key: getattr(self, name) for name, key in _CONTRASTIVE_KEYS.items()}
        parameters["train.mode"] = self._MODE
        output = {} if self.output_layer is None else self.output_layer
        if not isinstance(output, dict):
            raise ValueError(f"output_layer: expected a dict of [[layers]] keys or None, got {output!r}")
        fixed = sorted(set(output) & {"type", "neurons"})
        if fixed:
            raise ValueError(
                f"output_layer: {', '.join(fixed)} cannot be set (the output layer is dense, one neuron per class)"
            )
        layers = self._hidden() + [dict(output, type="dense", neurons=int(classes))]
        return _simmatch.Network(self.input_shape_, layers=layers, **parameters)

    def _class_scores(self, top):
        return top  # the output layer's activities


class SupervisedClassifier(_LabelledNetwork, BaseEstimator):
    """Supervised similarity matching with the labels as an input, as a scikit-learn classifier.

    While training, the top layer of the similarity-matching network receives the label input
    ``label_scale`` e_y through label synapses V besides the layer below, so the similarity its
    fixed points match is the input's plus label_scale^2 times the labels' (samples of one class
    are pulled together); W, L and V all learn by eq. 17. At test time the label input is absent:
    the network runs its unsupervised dynamics and V^T r (one score per class) is the output.

    Parameters
    ----------
    input_shape : tuple (height, width[, channels]) or None
        Shape of one sample; None: X's own (images when X has 3 or 4 dimensions, else flat).
    hidden_layers : list of dict or None
        The layers, input side first (keys of a ``[[layers]]`` table); the last receives the
        labels. None: one dense layer of ``n_hidden``.
    n_hidden : int
        Neurons of the default layer.
    verbose : int
        0 silent; 1 reports each epoch on stderr.
    label_scale : float
        Height s of the label input s e_y (train.label_scale): the labels' similarity enters the
        top layer's target with weight s^2 against the input's; choose it against ||x||.
    validation_fraction : float
        Share of the training samples held out, stratified, and scored by V^T r after each epoch
        (train.validation; ``history_``'s ``validation_accuracy``); 0 trains on every sample.
    activation, gain, clip, gamma, precision, method, tolerance, max_steps, step_initial, \
step_decay, step_min, anderson_depth, anderson_mixing, anderson_restart, newton_max_site, epochs, \
samples_per_epoch, batch_size, eta, schedule, decay, floor, cost_samples, shuffle, \
checkpoint_every, on_nan, on_nonconvergence, seed
        Keys of the parameter table (docs/parameters.md) under their short names; defaults that
        differ from the table's suit small problems (batch 10, constant rate 0.05, 20 epochs).

    Attributes
    ----------
    classes_ : ndarray
        The class labels, in the order of V's columns.
    network_ : simmatch.Network
        Its ``label_weights_`` are V (top-layer neurons x classes).
    n_features_in_ : int
    history_ : list of dict
    """

    _MODE = "supervised"

    def __init__(
        self,
        *,
        input_shape=None,
        hidden_layers=None,
        n_hidden=100,
        verbose=0,
        label_scale=1.0,
        validation_fraction=0.0,
        activation="tanh",
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
        epochs=20,
        samples_per_epoch=0,
        batch_size=10,
        eta=0.05,
        schedule="constant",
        decay=_D["train.decay"],
        floor=_D["train.floor"],
        cost_samples=0,
        shuffle=True,
        checkpoint_every=0,
        on_nan=_D["train.on_nan"],
        on_nonconvergence=_D["train.on_nonconvergence"],
        seed=_D["seed"],
    ):
        _store_parameters(self, locals())

    def _build_network(self, classes):
        # The layers as given; the label synapses (N_P x classes) are created at zero by fit.
        parameters = {key: getattr(self, name) for name, key in _SUPERVISED_KEYS.items()}
        parameters["train.mode"] = self._MODE
        return _simmatch.Network(self.input_shape_, layers=self._hidden(), **parameters)

    def _class_scores(self, top):
        return top @ self.network_.label_weights_  # V^T r per sample
