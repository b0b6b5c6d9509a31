"""The network's description: made and validated once, then only read."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_backprop._spec import NetworkSpec, n_params


def test_spec_describes_the_layers():
    spec = NetworkSpec.make([3, 4, 2], "relu", "softmax", "log_loss", np.float32)
    assert spec.layer_sizes == (3, 4, 2) and spec.n_layers == 3
    assert spec.shapes == ((4, 4), (2, 5)) and spec.n_params == n_params([3, 4, 2])
    assert spec.activation.name == "relu" and spec.loss.output == "softmax"
    assert spec.dtype == np.float32 and spec.with_dtype(np.float64).dtype == np.float64
    theta = np.arange(spec.n_params, dtype=np.float32)
    T1, T2 = spec.unpack(theta)
    assert np.shares_memory(T1, theta) and np.shares_memory(T2, theta)
    assert T2[0, 0] == 16  # Θ^(2) starts after the 4 × 4 of Θ^(1)


def test_weight_mask_zeroes_the_bias_columns():
    spec = NetworkSpec.make([2, 3, 1])
    for mask in spec.unpack(spec.weight_mask.copy()):
        assert_array_equal(mask[:, 0], 0)
        assert_array_equal(mask[:, 1:], 1)
    assert not spec.weight_mask.flags.writeable


@pytest.mark.parametrize(
    "args, match",
    [
        (([3, 2], "sigmoid"), "activation='sigmoid' is not supported"),
        (([3, 2], "tanh", "softplus"), "output_activation='softplus'"),
        (([3, 2], "tanh", "softmax", "squared_error"), "cannot be combined"),
        (([3],), "at least an input and an output size"),
    ],
)
def test_bad_descriptions_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        NetworkSpec.make(*args)


def test_check_theta_names_the_expected_length():
    spec = NetworkSpec.make([2, 1])
    with pytest.raises(ValueError, match="1-D vector of 3 parameters"):
        spec.check_theta(np.zeros(4))
    assert spec.check_theta([1, 2, 3]).dtype == np.float64
