"""Output units and losses against naive formulas and numerical derivatives.

A loss record's ``value_delta`` receives z^(L) and the block's targets (with
the sample weights folded in), returns Σ_i w_i loss_i and overwrites z^(L)
with the weighted δ^(L) = w_i ∂loss_i/∂z^(L). The expectations here are the
textbook per-row losses (written with log of probabilities, fine for
moderate z) and central finite differences of those formulas.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_backprop._losses import LOSSES, OUTPUT_ACTIVATIONS


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def naive_row_loss(pair, Z, Y):
    """Each row's loss from its textbook definition."""
    if pair == ("logistic", "log_loss"):
        a = sigmoid(Z)
        return -(Y * np.log(a) + (1 - Y) * np.log(1 - a)).sum(axis=1)
    if pair == ("softmax", "log_loss"):
        return -(Y * np.log(softmax(Z))).sum(axis=1)
    if pair == ("identity", "squared_error"):
        return 0.5 * ((Z - Y) ** 2).sum(axis=1)
    if pair == ("logistic", "squared_error"):
        return 0.5 * ((sigmoid(Z) - Y) ** 2).sum(axis=1)
    raise AssertionError(pair)


def targets(pair, rng, n, k, one_hot=True):
    if pair[0] == "softmax":
        if one_hot:
            return np.eye(k)[rng.integers(0, k, size=n)]
        return rng.uniform(0, 2, size=(n, k))  # non-normalised counts
    if pair[0] == "logistic":
        return rng.uniform(0, 1, size=(n, k))
    return rng.normal(size=(n, k))


def value_delta(pair, Z, Y, w=None):
    """Σ_i w_i loss_i and the weighted δ^(L), on copies of Z and Y."""
    loss = LOSSES[pair]
    delta, Y_in = np.array(Z, copy=True), Y.copy()
    scratch, vec = np.empty_like(delta), np.empty(len(Z), Z.dtype)
    total = loss.value_delta(delta, loss.targets(Y_in, w), scratch, vec)
    assert_array_equal(Y_in, Y)  # targets are not modified
    return total, delta


def call(pair, Z, Y):
    """Each row's loss (one call per row) and δ^(L) (one call for all)."""
    total, delta = value_delta(pair, Z, Y)
    rows = np.array(
        [value_delta(pair, Z[i : i + 1], Y[i : i + 1])[0] for i in range(len(Z))]
    )
    rtol = 1e-12 if Z.dtype == np.float64 else 1e-5
    assert_allclose(total, rows.sum(), rtol=rtol, atol=1e-14)
    return rows, delta


def test_sample_weights_scale_each_rows_loss_and_delta(pair):
    rng = np.random.default_rng(6)
    Z = rng.normal(scale=2.0, size=(7, 3))
    Y = targets(pair, rng, 7, 3, one_hot=False)
    w = rng.uniform(0, 3, size=7)
    w[2] = 0.0
    rows, delta = call(pair, Z, Y)
    total, weighted = value_delta(pair, Z, Y, w)
    assert_allclose(total, rows @ w, rtol=1e-12)
    assert_allclose(weighted, delta * w[:, None], rtol=1e-12, atol=1e-15)


def test_loss_table_has_exactly_the_supported_pairs(loss_pairs):
    # the supported (output_activation, loss) pairs; every other test here
    # runs for each pair in the table (the ``pair`` fixture)
    expected = {
        ("logistic", "log_loss"),
        ("softmax", "log_loss"),
        ("identity", "squared_error"),
        ("logistic", "squared_error"),
    }
    assert set(LOSSES) == expected
    assert set(loss_pairs) == expected
    assert set(OUTPUT_ACTIVATIONS) == {"logistic", "softmax", "identity"}


@pytest.mark.parametrize("one_hot", [True, False])
def test_row_loss_matches_naive_formula(pair, one_hot):
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=3.0, size=(9, 4))
    Y = targets(pair, rng, 9, 4, one_hot)
    row_loss, _ = call(pair, Z, Y)
    assert row_loss.shape == (9,)
    assert_allclose(row_loss, naive_row_loss(pair, Z, Y), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("one_hot", [True, False])
def test_delta_is_numerical_derivative_of_row_loss(pair, one_hot):
    rng = np.random.default_rng(1)
    Z = rng.normal(scale=2.0, size=(6, 3))
    Y = targets(pair, rng, 6, 3, one_hot)
    _, delta = call(pair, Z, Y)
    h = 1e-6
    numeric = np.empty_like(Z)
    for i in range(Z.shape[0]):
        for k in range(Z.shape[1]):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, k] += h
            Zm[i, k] -= h
            diff = naive_row_loss(pair, Zp, Y)[i] - naive_row_loss(pair, Zm, Y)[i]
            numeric[i, k] = diff / (2 * h)
    assert_allclose(delta, numeric, rtol=1e-7, atol=1e-9)


def test_delta_matches_the_notes_formula(pair):
    # The notes: δ^(L) = a^(L) - y for cross-entropy outputs; for the notes'
    # J = ½(ŷ - y)² with logistic units the chain rule adds g'(z) = a (1 - a).
    rng = np.random.default_rng(2)
    Z = rng.normal(scale=2.0, size=(5, 3))
    Y = targets(pair, rng, 5, 3)
    _, delta = call(pair, Z, Y)
    if pair == ("logistic", "log_loss"):
        expected = sigmoid(Z) - Y
    elif pair == ("softmax", "log_loss"):
        expected = softmax(Z) - Y
    elif pair == ("identity", "squared_error"):
        expected = Z - Y
    else:
        a = sigmoid(Z)
        expected = (a - Y) * a * (1 - a)
    assert_allclose(delta, expected, rtol=1e-12, atol=1e-15)


def test_logistic_log_loss_at_extreme_logits():
    # loss = softplus(z) - y z: z = +1e4, y = 0 costs 1e4; y = 1 costs 0, etc.
    Z = np.array([[1e4, 1e4, -1e4, -1e4]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    per_unit = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(4):
            per_unit.append(call(("logistic", "log_loss"), Z[:, [k]], Y[:, [k]]))
        row_loss, delta = call(("logistic", "log_loss"), Z, Y)
    assert_array_equal([loss[0] for loss, _ in per_unit], [1e4, 0.0, 1e4, 0.0])
    assert_array_equal(row_loss, [2e4])
    assert_array_equal(delta, [[1.0, 0.0, -1.0, 0.0]])


def test_softmax_log_loss_at_extreme_logits():
    Z = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row_loss, delta = call(("softmax", "log_loss"), Z, Y)
    # -log p_y = logsumexp(z) - z_y = 1e4 - z_y
    assert_array_equal(row_loss, [0.0, 2e4, 2e4])
    assert_array_equal(delta, [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


def test_logistic_squared_error_saturates():
    Z = np.array([[1e4, -1e4]])
    Y = np.array([[0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row_loss, delta = call(("logistic", "squared_error"), Z, Y)
    assert_array_equal(row_loss, [0.5])  # ½(1 - 0)² + ½(0 - 0)²
    assert_array_equal(delta, [[0.0, 0.0]])  # g'(z) = 0 at saturation


def test_small_hand_examples():
    # logistic log-loss, z = 0: loss = log 2 per unit, δ = 1/2 - y
    loss, delta = call(("logistic", "log_loss"), np.zeros((1, 2)), np.eye(2)[:1])
    assert_allclose(loss, [2 * np.log(2)], rtol=1e-15)
    assert_allclose(delta, [[-0.5, 0.5]], rtol=1e-15)
    # softmax, equal logits over 4 classes: loss = log 4, δ = 1/4 - y
    loss, delta = call(("softmax", "log_loss"), np.full((1, 4), 7.0), np.eye(4)[[2]])
    assert_allclose(loss, [np.log(4)], rtol=1e-15)
    assert_allclose(delta, [[0.25, 0.25, -0.75, 0.25]], rtol=1e-15)
    # identity squared error: ½(3² + 4²) = 12.5
    loss, delta = call(
        ("identity", "squared_error"), np.array([[4.0, 1.0]]), np.array([[1.0, 5.0]])
    )
    assert_allclose(loss, [12.5], rtol=1e-15)
    assert_allclose(delta, [[3.0, -4.0]], rtol=1e-15)


def test_float32_stays_float32(pair):
    rng = np.random.default_rng(3)
    Z = rng.normal(scale=2.0, size=(5, 3))
    Y = targets(pair, rng, 5, 3)
    loss64, delta64 = call(pair, Z, Y)
    loss32, delta32 = call(pair, Z.astype(np.float32), Y.astype(np.float32))
    assert delta32.dtype == np.float32
    assert_allclose(loss32, loss64, rtol=1e-5, atol=1e-6)
    assert_allclose(delta32, delta64, rtol=1e-5, atol=1e-6)


def test_output_logistic_gives_probabilities():
    rng = np.random.default_rng(4)
    Z = rng.normal(scale=5.0, size=(8, 3))
    expected = sigmoid(Z)
    A = Z.copy()
    assert OUTPUT_ACTIVATIONS["logistic"](A) is None
    assert_allclose(A, expected, rtol=1e-14)
    extreme = np.array([[-1e4, -800.0, 800.0, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OUTPUT_ACTIVATIONS["logistic"](extreme)
    assert_array_equal(extreme, [[0.0, 0.0, 1.0, 1.0]])


def test_output_softmax_gives_probabilities():
    rng = np.random.default_rng(5)
    Z = rng.normal(scale=5.0, size=(8, 4))
    expected = softmax(Z)
    A = Z.copy()
    assert OUTPUT_ACTIVATIONS["softmax"](A) is None
    assert_allclose(A, expected, rtol=1e-13)
    assert np.all(A >= 0)
    assert_allclose(A.sum(axis=1), 1.0, rtol=1e-15)
    # invariant to a shift of the logits; huge logits neither overflow nor NaN
    shifted = Z + 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OUTPUT_ACTIVATIONS["softmax"](shifted)
        big = np.array([[1e4, 1e4, -1e4], [-1e4, 0.0, 1e4]])
        OUTPUT_ACTIVATIONS["softmax"](big)
    assert_allclose(shifted, expected, rtol=1e-9)
    assert_array_equal(big, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])


def test_output_identity_leaves_values_alone():
    Z = np.array([[-2.5, 0.0, 1e300]])
    A = Z.copy()
    assert OUTPUT_ACTIVATIONS["identity"](A) is None
    assert_array_equal(A, Z)
