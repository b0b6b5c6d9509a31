"""
Tuning λ and the hidden layer on the digits
===========================================

Handwritten digit recognition is the first application the notes name.
The network here reads 8×8 images (64 features) and has one hidden layer
of logistic units and ten outputs.
Two choices are left to the user: the regularisation strength λ (``alpha``)
and the size of the hidden layer. This example tunes both with
:class:`~sklearn.model_selection.GridSearchCV`, draws the validation curve
over λ, and looks at the test digits the tuned network gets wrong.
"""

# %%
# Data and pipeline
# -----------------
# Standardising the pixels puts every input on the same scale, which helps
# the solver. A fit that reaches ``max_iter`` (200 iterations) before its
# gradient is small raises a ConvergenceWarning. On this grid that is rare,
# and it is the strongly regularised fits (λ = 10) that come close to the
# limit: with small λ the solver meets its tolerance in well under 200
# iterations. The warnings are silenced here, since accuracy is what the
# search compares, but the grid search counts them.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split, validation_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("net", BackpropClassifier(random_state=0)),
    ]
)

# %%
# Grid search
# -----------
# Four values of λ and three hidden-layer sizes, each scored by 3-fold
# cross-validated accuracy on the training set.
alphas = [0.01, 0.1, 1.0, 10.0]
sizes = [(10,), (25,), (50,)]
search = GridSearchCV(
    pipe,
    {"net__alpha": alphas, "net__hidden_layer_sizes": sizes},
    cv=3,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ConvergenceWarning)
    search.fit(X_train, y_train)
n_fits = 3 * len(alphas) * len(sizes) + 1  # the folds, then the refit
n_limit = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
print(f"fits stopped at max_iter: {n_limit} of {n_fits}")
print("best parameters:", search.best_params_)
print(f"best CV accuracy: {search.best_score_:.3f}")
print(f"test accuracy of the refitted best model: {search.score(X_test, y_test):.3f}")

# %%
# The mean CV accuracy of every combination as a heat map; the best cell is
# outlined.
scores = np.empty((len(sizes), len(alphas)))
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
):
    row = sizes.index(params["net__hidden_layer_sizes"])
    scores[row, alphas.index(params["net__alpha"])] = score

fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
image = ax.imshow(scores, cmap="viridis")
for (row, col), score in np.ndenumerate(scores):
    color = "black" if score > scores.mean() else "white"
    ax.text(col, row, f"{score:.3f}", ha="center", va="center", color=color)
best_row = sizes.index(search.best_params_["net__hidden_layer_sizes"])
best_col = alphas.index(search.best_params_["net__alpha"])
ax.add_patch(
    plt.Rectangle(
        (best_col - 0.5, best_row - 0.5), 1, 1, fill=False, edgecolor="red", lw=3
    )
)
ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
ax.set_yticks(range(len(sizes)), [str(s[0]) for s in sizes])
ax.set_xlabel("alpha (λ)")
ax.set_ylabel("hidden units")
ax.set_title("3-fold CV accuracy on the digits")
fig.colorbar(image, ax=ax, label="mean CV accuracy")
plt.show()

# %%
# Validation curve over λ
# -----------------------
# With the best hidden-layer size fixed, the training and cross-validated
# accuracy over a wider range of λ. Small λ lets the network fit the training
# folds perfectly; large λ shrinks the weights until the network underfits
# both.
best_size = search.best_params_["net__hidden_layer_sizes"]
alpha_range = np.logspace(-3, 2, 6)
train_scores, cv_scores = validation_curve(
    pipe.set_params(net__hidden_layer_sizes=best_size),
    X_train,
    y_train,
    param_name="net__alpha",
    param_range=alpha_range,
    cv=3,
)
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
for name, values in [("training", train_scores), ("cross-validation", cv_scores)]:
    mean, std = values.mean(axis=1), values.std(axis=1)
    ax.semilogx(alpha_range, mean, "o-", label=name)
    ax.fill_between(alpha_range, mean - std, mean + std, alpha=0.2)
ax.set_xlabel("alpha (λ)")
ax.set_ylabel("accuracy")
ax.set_title(f"Validation curve, {best_size[0]} hidden units")
ax.legend()
plt.show()
print(f"{'alpha':>26}", "  ".join(f"{a:6g}" for a in alpha_range))
for name, values in [("training", train_scores), ("cross-validation", cv_scores)]:
    print(f"{name:>17} accuracy", "  ".join(f"{m:6.3f}" for m in values.mean(axis=1)))

# %%
# Misclassified test digits
# -------------------------
# The tuned network's mistakes on the held-out quarter of the data, shown as
# the 8×8 images the network sees (before scaling), with the true and the
# predicted label.
y_pred = search.predict(X_test)
wrong = np.flatnonzero(y_pred != y_test)
print(f"{wrong.size} of {y_test.size} test digits misclassified")
shown = wrong[:12]
fig, axes = plt.subplots(2, 6, figsize=(9, 4.2), layout="constrained")
for ax in axes.ravel():
    ax.set_axis_off()
for ax, i in zip(axes.ravel(), shown, strict=False):
    ax.set_axis_on()  # a frame around the 8×8 image, without ticks
    ax.set_xticks([])
    ax.set_yticks([])
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
    ax.set_title(f"true {y_test[i]}, pred {y_pred[i]}", fontsize=9)
fig.suptitle("Misclassified test digits")
plt.show()
