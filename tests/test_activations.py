"""Hidden-unit activations g and their δ functions against textbook formulas.

Every expectation is computed independently of the package: the activation
from its defining formula, the derivative either from the notes' analytic
derivation (g'(z) = e^{-z} / (1 + e^{-z})² for the logistic unit, ...) or by
central finite differences of the textbook formula.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_backprop._activations import ACTIVATIONS


def textbook(name, z):
    """g(z) written from its definition (moderate z only, |z| < ~300)."""
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "identity":
        return z.copy()
    raise AssertionError(name)


def textbook_derivative(name, z):
    """g'(z) from the analytic derivation (the notes' for the logistic unit)."""
    if name == "logistic":
        return np.exp(-z) / (1.0 + np.exp(-z)) ** 2
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "identity":
        return np.ones_like(z)
    raise AssertionError(name)


def pre_activations(rng, shape=(7, 5), scale=3.0):
    """Random z kept at least 1e-3 away from 0 (relu's kink)."""
    Z = rng.normal(scale=scale, size=shape)
    Z[np.abs(Z) < 1e-3] = 0.5
    return Z


def test_one_record_per_activation(activation_names):
    # the supported activations; every other test here runs for each
    # name in the table (the ``activation`` fixture)
    expected = {"logistic", "tanh", "relu", "identity"}
    assert set(ACTIVATIONS) == expected
    assert all(record.name == name for name, record in ACTIVATIONS.items())
    assert set(activation_names) == expected


def textbook_second_derivative(name, z):
    """g''(z) from the analytic derivation."""
    if name == "logistic":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1 - s) * (1 - 2 * s)
    if name == "tanh":
        return -2 * np.tanh(z) / np.cosh(z) ** 2
    return np.zeros_like(z)  # relu (away from its kink) and identity


def test_slope_and_second_derivative_from_the_output(activation):
    rng = np.random.default_rng(5)
    Z = pre_activations(rng)
    A = textbook(activation, Z)
    record = ACTIVATIONS[activation]
    slope = record.slope(A)
    assert_allclose(slope, textbook_derivative(activation, Z), rtol=1e-12, atol=1e-14)
    second = record.second(A, slope)
    assert_allclose(
        second, textbook_second_derivative(activation, Z), rtol=1e-10, atol=1e-13
    )


def test_second_derivative_matches_finite_differences_of_the_slope(activation):
    rng = np.random.default_rng(6)
    Z = pre_activations(rng, scale=2.0)
    record = ACTIVATIONS[activation]
    h = 1e-6
    numeric = (
        record.slope(textbook(activation, Z + h))
        - record.slope(textbook(activation, Z - h))
    ) / (2 * h)
    A = textbook(activation, Z)
    assert_allclose(record.second(A, record.slope(A)), numeric, rtol=1e-6, atol=1e-8)


def test_activation_matches_textbook_formula_in_place(activation):
    rng = np.random.default_rng(0)
    Z = pre_activations(rng, scale=6.0)
    expected = textbook(activation, Z)
    buffer = Z
    result = ACTIVATIONS[activation].forward(Z)
    assert result is None  # works in place
    assert Z is buffer
    assert_allclose(Z, expected, rtol=0, atol=1e-15)


def test_activation_on_a_non_contiguous_view(activation):
    rng = np.random.default_rng(1)
    Z = pre_activations(rng, shape=(6, 8))
    expected = Z.copy()
    expected[:, ::2] = textbook(activation, Z[:, ::2])
    ACTIVATIONS[activation].forward(Z[:, ::2])
    # only the view's elements change
    assert_allclose(Z, expected, rtol=0, atol=1e-15)


def test_logistic_values_by_hand():
    Z = np.array([[0.0, np.log(3.0), -np.log(3.0)]])
    ACTIVATIONS["logistic"].forward(Z)
    # g(0) = 1/2, g(log 3) = 1/(1 + 1/3) = 3/4, g(-log 3) = 1/(1 + 3) = 1/4
    assert_allclose(Z, [[0.5, 0.75, 0.25]], rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_and_tanh_saturate_without_warnings(dtype):
    Z = np.array([[-1e4, -800.0, 0.0, 800.0, 1e4]], dtype=dtype)
    T = Z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ACTIVATIONS["logistic"].forward(Z)
        ACTIVATIONS["tanh"].forward(T)
    assert Z.dtype == dtype and T.dtype == dtype
    assert_array_equal(Z, np.array([[0.0, 0.0, 0.5, 1.0, 1.0]], dtype=dtype))
    assert_array_equal(T, np.array([[-1.0, -1.0, 0.0, 1.0, 1.0]], dtype=dtype))


def test_activation_keeps_float32(activation):
    rng = np.random.default_rng(2)
    Z = pre_activations(rng).astype(np.float32)
    expected = textbook(activation, Z.astype(np.float64))
    ACTIVATIONS[activation].forward(Z)
    assert Z.dtype == np.float32
    assert_allclose(Z, expected, rtol=0, atol=1e-6)


def test_delta_is_back_times_analytic_derivative(activation):
    rng = np.random.default_rng(3)
    Z = pre_activations(rng)
    back = rng.normal(size=Z.shape)
    expected = back * textbook_derivative(activation, Z)
    A = textbook(activation, Z)
    result = ACTIVATIONS[activation].delta(A, back.copy())
    assert result is None  # A is overwritten with δ
    # δ is formed from the output a (1 - a², a (1 - a)), so near saturation
    # its error is absolute, a few ulps of 1 times |back|.
    assert_allclose(A, expected, rtol=1e-12, atol=1e-14)


def test_delta_is_back_times_numerical_derivative(activation):
    rng = np.random.default_rng(4)
    Z = pre_activations(rng, scale=2.0)
    back = rng.normal(size=Z.shape)
    h = 1e-6
    numeric = (textbook(activation, Z + h) - textbook(activation, Z - h)) / (2 * h)
    A = Z.copy()
    ACTIVATIONS[activation].forward(A)  # the package's own forward output feeds its δ
    ACTIVATIONS[activation].delta(A, back.copy())
    assert_allclose(A, back * numeric, rtol=1e-7, atol=1e-9)


def test_relu_delta_is_zero_where_the_unit_is_off():
    A = np.array([[0.0, 0.0, 2.0, 1e-300]])
    back = np.array([[5.0, -5.0, 3.0, 7.0]])
    ACTIVATIONS["relu"].delta(A, back)
    assert_array_equal(A, [[0.0, 0.0, 3.0, 7.0]])


def test_logistic_delta_by_hand():
    # a = 1/2: g' = 1/4; a = 3/4: g' = 3/16; a = 1: g' = 0 (saturated)
    A = np.array([[0.5, 0.75, 1.0]])
    back = np.array([[2.0, 4.0, 9.0]])
    ACTIVATIONS["logistic"].delta(A, back)
    assert_allclose(A, [[0.5, 0.75, 0.0]], rtol=0, atol=1e-15)


def test_tanh_delta_by_hand():
    # g'(z) = 1 - tanh(z)², so a = 0.5 gives 0.75 and a = -1 gives 0
    A = np.array([[0.0, 0.5, -1.0]])
    back = np.array([[3.0, 2.0, 5.0]])
    ACTIVATIONS["tanh"].delta(A, back)
    assert_allclose(A, [[3.0, 1.5, 0.0]], rtol=0, atol=1e-15)
