"""
The notes' 3-3-1 network, by hand and by the package
====================================================

The notes work through one small network (their figure 5): three input
features :math:`x_1, x_2, x_3`, a hidden layer of three logistic units and
one logistic output unit, with a bias unit in front of the input and hidden
layers. Θ^(1) is 3×4 and Θ^(2) is 1×4 (column 0 multiplies the bias).

This example computes everything the notes compute for that network, once by
hand with NumPy following the notes' equations and once with
:mod:`sklearn_backprop.network`, and checks that the two agree:

1. forward propagation, layer by layer: a^(1), z^(2), a^(2), z^(3), a^(3);
2. the error terms δ^(3) and δ^(2);
3. the Δ accumulation over the training examples and the D terms, which are
   the gradient that :func:`~sklearn_backprop.network.cost_grad` returns;
4. the numerical gradient check.
"""

# %%
# The network and its weights
# ---------------------------
# ``layer_sizes`` lists S_1, S_2, S_3: three inputs, three hidden units, one
# output. The weights of all layers live in one flat vector θ;
# :func:`~sklearn_backprop.network.unpack` gives the matrices Θ^(l) as views
# of it.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_backprop import network

np.set_printoptions(precision=4, suppress=True)

layer_sizes = [3, 3, 1]
print("number of weights:", network.n_params(layer_sizes))  # 3*4 + 1*4

rng = np.random.default_rng(0)
theta = rng.uniform(-1, 1, size=network.n_params(layer_sizes))
Theta1, Theta2 = network.unpack(theta, layer_sizes)
print("Θ^(1) =\n", Theta1)
print("Θ^(2) =\n", Theta2)


def g(z):
    """The notes' logistic function g(z) = 1 / (1 + exp(-z))."""
    return 1.0 / (1.0 + np.exp(-z))


# %%
# Forward propagation for one example
# -----------------------------------
# The notes write one example as a column vector and prepend the bias unit
# x_0 = 1: equation (1) is z^(2) = Θ^(1) a^(1), equation (2) a^(2) = g(z^(2)),
# equation (3) z^(3) = Θ^(2) a^(2) after prepending a_0^(2) = 1, and
# equation (4) ŷ = a^(3) = g(z^(3)).
x = np.array([0.5, -1.0, 2.0])
y = 1.0

a1 = np.concatenate([[1.0], x])  # [x_0, x_1, x_2, x_3]
z2 = Theta1 @ a1
a2 = np.concatenate([[1.0], g(z2)])  # [a_0^(2), a_1^(2), a_2^(2), a_3^(2)]
z3 = Theta2 @ a2
a3 = g(z3)
print("a^(1) with bias =", a1)
print("z^(2) = Θ^(1) a^(1) =", z2)
print("a^(2) with bias =", a2)
print("z^(3) = Θ^(2) a^(2) =", z3)
print("a^(3) = ŷ =", a3)

# %%
# :func:`~sklearn_backprop.network.forward` does the same for a whole matrix
# of examples, one example per row. It returns the activations of every layer
# without the bias units, which it never stores: the bias is column 0 of each
# Θ^(l), added to the product of the other columns with the activations.
activations = network.forward([Theta1, Theta2], x.reshape(1, -1))
for layer, a in enumerate(activations, start=1):
    print(f"a^({layer}) from network.forward:", a.ravel())
np.testing.assert_allclose(activations[1].ravel(), a2[1:])
np.testing.assert_allclose(activations[2].ravel(), a3)

# %%
# The pre-activations z^(l) are what ``forward`` gives when the output units
# are the identity (the hidden layers still use g):
z_out = network.forward(
    [Theta1, Theta2], x.reshape(1, -1), output_activation="identity"
)[-1]
print("z^(3) from network.forward:", z_out.ravel())
np.testing.assert_allclose(z_out.ravel(), z3)

# %%
# Error terms δ
# -------------
# For the logistic output with the cross-entropy cost (what the package
# trains a classifier with), the error of the output unit is
# δ^(3) = a^(3) - y, exactly as in the notes. The hidden layer's error is the
# output error sent back through Θ^(2), without its bias column, times
# g'(z^(2)) = a^(2) (1 - a^(2)). The bias unit gets no δ.
delta3 = a3 - y
delta2 = (Theta2[:, 1:].T @ delta3) * a2[1:] * (1 - a2[1:])
print("δ^(3) =", delta3)
print("δ^(2) =", delta2)

# %%
# Δ accumulation and D terms over a training set
# ----------------------------------------------
# The notes' algorithm loops over the M training examples, adds
# δ^(l+1) (a^(l))ᵀ to Δ^(l) (bias units included in a^(l)), then
# forms the D terms. With the regularisation used by the package,
#
# .. math::
#
#     D^{(l)}_{ij} = \frac{1}{M}\Delta^{(l)}_{ij} + \frac{\alpha}{M}\Theta^{(l)}_{ij}
#     \quad (j \neq 0), \qquad
#     D^{(l)}_{i0} = \frac{1}{M}\Delta^{(l)}_{i0}.
#
# (The notes write "+λθ"; the user guide explains why the package
# divides by M: that is the derivative of the cost it actually minimises.)
M, alpha = 4, 1.0
X = rng.normal(size=(M, 3))
Y = np.array([[1.0], [0.0], [1.0], [0.0]])

Delta1, Delta2 = np.zeros_like(Theta1), np.zeros_like(Theta2)
for i in range(M):
    a1 = np.concatenate([[1.0], X[i]])
    a2 = np.concatenate([[1.0], g(Theta1 @ a1)])
    a3 = g(Theta2 @ a2)
    d3 = a3 - Y[i]
    d2 = (Theta2[:, 1:].T @ d3) * a2[1:] * (1 - a2[1:])
    Delta2 += np.outer(d3, a2)
    Delta1 += np.outer(d2, a1)

D1, D2 = Delta1 / M, Delta2 / M
D1[:, 1:] += alpha / M * Theta1[:, 1:]
D2[:, 1:] += alpha / M * Theta2[:, 1:]
print("D^(1) by hand =\n", D1)
print("D^(2) by hand =\n", D2)

# %%
# :func:`~sklearn_backprop.network.cost_grad` computes the cost J and all the
# D terms in one vectorised pass over the rows of X, returning the gradient
# flattened like θ:
J, grad = network.cost_grad(theta, X, Y, layer_sizes, alpha=alpha)
G1, G2 = network.unpack(grad, layer_sizes)
print(f"J = {J:.6f}")
print("D^(1) from cost_grad =\n", G1)
print("D^(2) from cost_grad =\n", G2)
np.testing.assert_allclose(G1, D1, rtol=1e-12)
np.testing.assert_allclose(G2, D2, rtol=1e-12)

# %%
# The cost is the mean cross-entropy plus the penalty on the non-bias
# weights:
A3 = network.forward([Theta1, Theta2], X)[-1]
cross_entropy = -np.mean(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))
penalty = alpha / (2 * M) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
print(f"J by hand = {cross_entropy + penalty:.6f}")
np.testing.assert_allclose(J, cross_entropy + penalty)

# %%
# Gradient check
# --------------
# Central differences (J(θ + εe_k) - J(θ - εe_k)) / 2ε approximate each
# partial derivative independently of backpropagation.
# :func:`~sklearn_backprop.network.gradient_check` returns the relative error
# between the two gradients; around 1e-9 or less means backpropagation is
# right.
numerical = network.numerical_gradient(
    lambda t: network.cost_grad(t, X, Y, layer_sizes, alpha=alpha)[0], theta
)
error = network.gradient_check(theta, X, Y, layer_sizes, alpha=alpha)
print(f"relative error ‖g_num - g‖ / ‖g_num + g‖ = {error:.2e}")
assert error < 1e-8

# %%
# The notes also suggest imagining the cost J = ½(ŷ - y)². The package has
# that cost too (``loss="squared_error"``); its output error picks up the
# factor g'(z^(3)): δ^(3) = (a^(3) - y) a^(3) (1 - a^(3)). The gradient check
# agrees just as well:
error_sq = network.gradient_check(
    theta, X, Y, layer_sizes, alpha=alpha, loss="squared_error"
)
print(f"relative error with the squared error cost = {error_sq:.2e}")
assert error_sq < 1e-8

# %%
# The D terms next to the numerical gradient, weight by weight:
labels = [f"Θ$^{{(1)}}_{{{i + 1}{j}}}$" for i in range(3) for j in range(4)]
labels += [f"Θ$^{{(2)}}_{{1{j}}}$" for j in range(4)]
positions = np.arange(grad.size)
fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
ax.bar(positions - 0.2, grad, width=0.4, label="D terms (backpropagation)")
ax.bar(positions + 0.2, numerical, width=0.4, label="numerical gradient")
ax.axvline(11.5, color="grey", linestyle=":")
ax.axhline(0, color="black", linewidth=0.8)
ax.set_xticks(positions, labels, rotation=60)
ax.set_ylabel("∂J / ∂θ")
ax.set_title(f"Backpropagation vs central differences: relative error {error:.1e}")
ax.legend()
plt.show()
