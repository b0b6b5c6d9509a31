"""The network's description: layer sizes, activation, output and loss, dtype.

A :class:`NetworkSpec` is made and validated once (per fit, or per call of a
public function of :mod:`sklearn_backprop.network`); everything below it takes
the spec and never re-validates the same four arguments.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from sklearn_backprop._activations import ACTIVATIONS, Activation
from sklearn_backprop._losses import LOSSES, OUTPUT_ACTIVATIONS, Loss


def n_params(layer_sizes: Sequence[int]) -> int:
    """Number of weights in a network, bias columns included.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.

    Returns
    -------
    n : int
        Σ_l S_{l+1} (S_l + 1).

    Examples
    --------
    >>> n_params([3, 3, 1])  # the notes' figure 1: Θ^(1) is 3×4, Θ^(2) is 1×4
    16
    """
    return sum(
        int(s_out) * (int(s_in) + 1)
        for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)
    )


def check_names(activation: str, output_activation: str, loss: str | None) -> None:
    """Refuse unknown activation, output and loss names with the valid choices."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not supported; "
            f"choose one of {sorted(ACTIVATIONS)}."
        )
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"output_activation={output_activation!r} is not supported; "
            f"choose one of {sorted(OUTPUT_ACTIVATIONS)}."
        )
    if loss is not None and (output_activation, loss) not in LOSSES:
        pairs = ", ".join(f"{o}+{lo}" for o, lo in LOSSES)
        raise ValueError(
            f"loss={loss!r} cannot be combined with output_activation="
            f"{output_activation!r}; supported pairs: {pairs}."
        )


@dataclass(frozen=True)
class NetworkSpec:
    """A validated network: layer sizes, hidden activation, output/loss, dtype.

    Build it with :meth:`make`. Θ^(l) has shape (S_{l+1}, S_l + 1), bias in
    column 0, and all Θ^(l) live one after another in a flat vector.

    Examples
    --------
    >>> spec = NetworkSpec.make([3, 3, 1], "logistic", "logistic", "log_loss")
    >>> spec.n_params, spec.shapes
    (16, ((3, 4), (1, 4)))
    """

    layer_sizes: tuple[int, ...]
    activation: Activation
    loss: Loss
    dtype: np.dtype
    offsets: tuple[int, ...] = field(repr=False)

    @classmethod
    def make(
        cls,
        layer_sizes: Sequence[int],
        activation: str = "logistic",
        output_activation: str = "logistic",
        loss: str = "log_loss",
        dtype=np.float64,
    ) -> "NetworkSpec":
        """Validate the arguments once and describe the network they define."""
        check_names(activation, output_activation, loss)
        sizes = tuple(int(s) for s in layer_sizes)
        if len(sizes) < 2:
            raise ValueError(
                "layer_sizes needs at least an input and an output size, got "
                f"{list(sizes)}."
            )
        offsets = [0]
        for s_in, s_out in zip(sizes[:-1], sizes[1:], strict=False):
            offsets.append(offsets[-1] + s_out * (s_in + 1))
        return cls(
            sizes,
            ACTIVATIONS[activation],
            LOSSES[output_activation, loss],
            np.dtype(dtype),
            tuple(offsets),
        )

    def with_dtype(self, dtype) -> "NetworkSpec":
        """The same network computed in another dtype."""
        if np.dtype(dtype) == self.dtype:
            return self
        return NetworkSpec(
            self.layer_sizes, self.activation, self.loss, np.dtype(dtype), self.offsets
        )

    @property
    def n_params(self) -> int:
        return self.offsets[-1]

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes)

    @cached_property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """The shape (S_{l+1}, S_l + 1) of each Θ^(l)."""
        return tuple(
            (s_out, s_in + 1)
            for s_in, s_out in zip(
                self.layer_sizes[:-1], self.layer_sizes[1:], strict=False
            )
        )

    @cached_property
    def weight_mask(self) -> NDArray:
        """1.0 on the non-bias weights of the flat vector, 0.0 on the biases."""
        mask = np.ones(self.n_params, self.dtype)
        for thetas in self.unpack(mask):
            thetas[:, 0] = 0
        mask.setflags(write=False)
        return mask

    def unpack(self, theta: NDArray) -> list[NDArray]:
        """Views Θ^(l) of a flat vector of :attr:`n_params` elements."""
        return [
            theta[start:stop].reshape(shape)
            for start, stop, shape in zip(
                self.offsets[:-1], self.offsets[1:], self.shapes, strict=True
            )
        ]

    def check_theta(self, theta, name: str = "theta") -> NDArray:
        """``theta`` as a contiguous vector of this dtype, or a ValueError."""
        theta = np.ascontiguousarray(theta, dtype=self.dtype)
        if theta.ndim != 1 or theta.size != self.n_params:
            raise ValueError(
                f"{name} must be a 1-D vector of {self.n_params} parameters for "
                f"layer_sizes={list(self.layer_sizes)}, got shape {theta.shape}."
            )
        return theta
