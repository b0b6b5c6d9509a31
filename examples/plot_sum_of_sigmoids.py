"""
A curve as a sum of sigmoids
============================

The notes' figures 3 and 4: logistic "S" curves, shifted, stretched, scaled
and added together, approximate a non-linear function. A network with one
hidden layer of logistic units and an identity output unit computes exactly
such a sum,

.. math::

    \\hat y(x) = \\Theta^{(2)}_{10}
    + \\sum_{j=1}^{k} \\Theta^{(2)}_{1j}\\,
      g\\big(\\Theta^{(1)}_{j0} + \\Theta^{(1)}_{j1} x\\big),

and backpropagation chooses the shifts, stretches and scales. Here
:class:`~sklearn_backprop.BackpropRegressor` fits sin(x) on [-π, π] with four
hidden units, and the fitted curve is taken apart into its sigmoids.
"""

# %%
# Fit the regressor
# -----------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_backprop import BackpropRegressor

x = np.linspace(-np.pi, np.pi, 200)
X = x.reshape(-1, 1)
k = 4
model = BackpropRegressor(
    hidden_layer_sizes=(k,),
    activation="logistic",
    alpha=0.1,
    max_iter=500,
    random_state=1,
)
model.fit(X, np.sin(x))
print(f"R² on the training curve: {model.score(X, np.sin(x)):.5f}")

# %%
# Take the network apart
# ----------------------
# ``thetas_`` holds Θ^(1) (k × 2: bias and weight of x for each hidden unit)
# and Θ^(2) (1 × (k + 1): the output bias, then one weight per hidden unit).
# Hidden unit j contributes Θ^(2)_{1j} g(Θ^(1)_j · [1, x]). The units are
# sorted by where their sigmoid is steepest, x = -Θ^(1)_{j0} / Θ^(1)_{j1}.
Theta1, Theta2 = model.thetas_
print("Θ^(1) =\n", Theta1.round(3))
print("Θ^(2) =\n", Theta2.round(3))


def g(z):
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


order = np.argsort(-Theta1[:, 0] / Theta1[:, 1])
bias = Theta2[0, 0]
units = [Theta2[0, 1 + j] * g(Theta1[j, 0] + Theta1[j, 1] * x) for j in order]

# %%
# The sum of the weighted sigmoids plus the output bias is the model's
# prediction, to rounding error:
total = bias + np.sum(units, axis=0)
assert np.allclose(total, model.predict(X))
print(
    "max |sum of sigmoids + bias - predict| =", np.abs(total - model.predict(X)).max()
)

# %%
# The whole picture
# -----------------
# The target, the four weighted sigmoids (thin), the output bias (dotted) and
# the bias plus the sigmoids (thick), which is the network's prediction. The
# panels further down take this apart one unit at a time.

# sphinx_gallery_thumbnail_number = 1
fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
ax.plot(x, np.sin(x), "k--", linewidth=1.5, label="target sin(x)")
for n, unit in enumerate(units, start=1):
    ax.plot(x, unit, color=f"C{n}", linewidth=1.2, label=f"weighted sigmoid {n}")
ax.axhline(bias, color="grey", linestyle=":", label=f"output bias {bias:.2f}")
ax.plot(x, total, color="C0", linewidth=3, label="bias + sum = prediction")
ax.axhline(0, color="black", linewidth=0.6)
ax.set_xlim(-np.pi, np.pi)
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title(f"sin(x) as a sum of {k} sigmoids (R² = {model.score(X, np.sin(x)):.3f})")
ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
plt.show()

# %%
# Each hidden unit on its own (figure 3)
# --------------------------------------
# Every unit is one S curve: Θ^(1)_{j1} sets its steepness and direction,
# -Θ^(1)_{j0} / Θ^(1)_{j1} its centre, Θ^(2)_{1j} its height and sign.
fig, axes = plt.subplots(1, k, figsize=(13, 3.2), sharey=True, layout="constrained")
for n, (ax, j, unit) in enumerate(zip(axes, order, units, strict=True), start=1):
    ax.plot(x, unit, color=f"C{n}", linewidth=2)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(-Theta1[j, 0] / Theta1[j, 1], color=f"C{n}", linestyle=":")
    ax.set_title(
        f"unit {n}: {Theta2[0, 1 + j]:.2f} · g({Theta1[j, 0]:.2f} "
        f"{Theta1[j, 1]:+.2f} x)",
        fontsize=9,
    )
    ax.set_xlabel("x")
    ax.set_xlim(-np.pi, np.pi)
axes[0].set_ylabel("weighted sigmoid")
fig.suptitle("The four hidden units of the fitted network, one by one")
plt.show()

# %%
# Adding them up (figure 4)
# -------------------------
# Starting from the output bias, add one unit at a time. Each panel shows the
# running sum (solid), the unit just added (thin, its own colour) and the
# target sin(x) (dashed). After the last unit the running sum is the
# network's prediction (circles: ``model.predict``).
fig, axes = plt.subplots(1, k, figsize=(13, 3.4), sharey=True, layout="constrained")
running = np.full_like(x, bias)
for n, (ax, unit) in enumerate(zip(axes, units, strict=True), start=1):
    running = running + unit
    ax.plot(x, np.sin(x), "k--", linewidth=1, label="sin(x)")
    ax.plot(x, unit, color=f"C{n}", linewidth=1, label=f"unit {n}")
    ax.plot(x, running, color="C0", linewidth=2.5, label="bias + units so far")
    ax.set_title("bias + unit 1" if n == 1 else f"bias + units 1..{n}")
    ax.set_xlabel("x")
    ax.set_xlim(-np.pi, np.pi)
axes[-1].plot(
    x[::10],
    model.predict(X)[::10],
    "o",
    color="black",
    markerfacecolor="none",
    label="model.predict(x)",
)
axes[0].set_ylabel("y")
axes[-1].legend(loc="lower right", fontsize=8)
fig.suptitle("Adding the weighted sigmoids to the output bias approximates sin(x)")
plt.show()

# %%
# Four sigmoids already give R² above 0.99 on this interval. More hidden units
# give more S curves to add, and so finer detail; the regularisation
# ``alpha`` keeps their weights, and hence their heights and steepness, small.
