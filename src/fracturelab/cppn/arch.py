"""FER's architecture strings and flat weight vectors.

`"12;cache:15,gaussian:4,identity:2,sin:1"` is an MLP with 12 hidden layers, each of width 22, whose units are grouped
by activation in the written order (`cache` is the identity, used to carry a value forward). Layer `Dense_i` maps
layer i to layer i+1 (layer 0 = the 4 inputs y, x, d, bias; `Dense_L` maps the last hidden layer to h, s, v). There are
no biases. The flat vector concatenates each kernel (shape (in, out), row-major) in *lexicographic* order of the layer
names (Dense_0, Dense_1, Dense_10, Dense_11, Dense_2, ...), exactly as FER's flax code flattens it, so the paper's
weight IDs index the same weights here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..errors import FracturelabError

ARCH_ACTIVATIONS = ("cache", "identity", "sin", "cos", "tanh", "sigmoid", "gaussian", "relu")
N_IN, N_OUT = 4, 3


@dataclass(frozen=True)
class Arch:
    n_hidden: int
    groups: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, text: str) -> "Arch":
        if not isinstance(text, str) or len(text) > 10_000:
            raise FracturelabError("bad arch string: expected a short 'L;act:n,act:n,...'")
        try:
            depth, rest = text.strip().split(";")
            groups = tuple((a.strip(), int(n)) for a, n in (g.split(":") for g in rest.split(",")))
            arch = cls(int(depth), groups)
        except ValueError:
            raise FracturelabError(f"bad arch string {text!r}: expected 'L;act:n,act:n,...'") from None
        bad = [a for a, _ in arch.groups if a not in ARCH_ACTIVATIONS]
        if bad or arch.n_hidden < 1 or any(n < 1 for _, n in arch.groups) or len({a for a, _ in groups}) < len(groups):
            raise FracturelabError(f"bad arch string {text!r}: depth >= 1, widths >= 1, distinct activations "
                                   f"from {', '.join(ARCH_ACTIVATIONS)}")
        from ..limits import check_size

        check_size(arch.n_params, "max_params", f"arch {text.strip()!r}: weights")
        check_size(arch.n_hidden, "max_depth", f"arch {text.strip()[:40]!r}: hidden layers")
        return arch

    def __str__(self) -> str:
        return f"{self.n_hidden};" + ",".join(f"{a}:{n}" for a, n in self.groups)

    @property
    def width(self) -> int:
        return sum(n for _, n in self.groups)

    def shape(self, i: int) -> tuple[int, int]:
        """Kernel shape (in, out) of Dense_i."""
        return (N_IN if i == 0 else self.width, N_OUT if i == self.n_hidden else self.width)

    @cached_property
    def offsets(self) -> list[int]:
        """Start of Dense_i's kernel in the flat vector, indexed by i (storage order is lexicographic by name)."""
        starts, pos = [0] * (self.n_hidden + 1), 0
        for i in sorted(range(self.n_hidden + 1), key=lambda i: f"Dense_{i}"):
            starts[i] = pos
            pos += self.shape(i)[0] * self.shape(i)[1]
        return starts

    @property
    def n_params(self) -> int:
        return sum(a * b for a, b in map(self.shape, range(self.n_hidden + 1)))

    def weight_id(self, layer: int, row: int, col: int) -> int:
        """Flat index of kernel entry (row, col) of Dense_layer."""
        n_in, n_out = self.shape(layer)
        assert 0 <= row < n_in and 0 <= col < n_out
        return self.offsets[layer] + row * n_out + col

    def locate(self, wid: int) -> tuple[int, int, int]:
        """(layer, row, col) of a flat weight ID: the inverse of weight_id."""
        if not 0 <= wid < self.n_params:
            raise FracturelabError(f"weight ID {wid} out of range 0..{self.n_params - 1} for arch {self}")
        layer = max((i for i in range(self.n_hidden + 1) if self.offsets[i] <= wid), key=lambda i: self.offsets[i])
        row, col = divmod(wid - self.offsets[layer], self.shape(layer)[1])
        return layer, row, col

    def group_slices(self) -> list[tuple[str, int, int]]:
        """(activation, start column, end column) of each group in a hidden layer."""
        out, pos = [], 0
        for a, n in self.groups:
            out.append((a, pos, pos + n))
            pos += n
        return out
