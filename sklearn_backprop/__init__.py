"""The classic backpropagation network as a scikit-learn estimator.

``BackpropClassifier`` and ``BackpropRegressor`` train the network of forward
propagation, δ terms, Δ accumulation and D-term gradients with
``scipy.optimize.minimize``; the mathematics lives in
:mod:`sklearn_backprop.network` as plain functions.

Network, notation and figures are those of the article "Artificial Neural
Network backpropagation intuition", a write-up of forward and backward
propagation whose notation follows Andrew Ng's Machine Learning course
(Stanford OpenClassroom); the docstrings call it "the notes".
"""

from sklearn_backprop._classifier import BackpropClassifier
from sklearn_backprop._regressor import BackpropRegressor
from sklearn_backprop._solvers import Progress

__version__ = "0.1.0"
__all__ = ["BackpropClassifier", "BackpropRegressor", "Progress", "__version__"]
