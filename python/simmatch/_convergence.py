"""The estimators' warnings: simmatch's convergence warning, scikit-learn's as well, and every
warning of the network pointed at the user's line.

simmatch.Network warns with simmatch.ConvergenceWarning (a UserWarning, defined without
scikit-learn) when samples stop at solver.max_steps short of their fixed point. The estimators
re-issue it as the class below, which is both that warning and
sklearn.exceptions.ConvergenceWarning, so a filter on either catches it, as for scikit-learn's own
iterative estimators. The network's other warnings (a RuntimeWarning for settings that are valid but
likely to fail) are re-issued with their own class at the same line: raised through an estimator
they would otherwise point into simmatch's own files.
"""

import os
import sys
import warnings

import sklearn
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from . import _simmatch


class ConvergenceWarning(_simmatch.ConvergenceWarning, _SklearnConvergenceWarning):
    """Samples did not reach their fixed point within solver.max_steps (their activities are the
    last state reached)."""


# Frames in these folders are not the user's: the warning points past them (scikit-learn wraps
# transform and runs estimators inside Pipeline and GridSearchCV).
_INTERNAL = tuple(os.path.dirname(module.__file__) + os.sep for module in (sys.modules[__package__], sklearn))


def _user_stacklevel():
    """warnings.warn's stacklevel, counted from relay's frame, of the first frame outside simmatch and
    scikit-learn."""
    level, frame = 2, sys._getframe(2)  # warn in relay: stacklevel 2 is its caller, frame 2 here
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        level, frame = level + 1, frame.f_back
    return level


def relay(call, *args, **kwargs):
    """call(*args, **kwargs), its warnings re-issued at the line that called into the estimator:
    simmatch.ConvergenceWarning as ConvergenceWarning, any other warning raised at a frame of
    simmatch or scikit-learn with its own class; the rest pass through unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", _simmatch.ConvergenceWarning)
        result = call(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, _simmatch.ConvergenceWarning):
            warnings.warn(str(w.message), ConvergenceWarning, stacklevel=_user_stacklevel())
        elif w.filename.startswith(_INTERNAL):
            warnings.warn(w.message, stacklevel=_user_stacklevel())
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return result
