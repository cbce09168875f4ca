"""Named (values, indices) results, like torch.return_types.max."""

from collections import namedtuple

_types = {name: namedtuple(name, ["values", "indices"]) for name in ("max", "min")}


def values_indices(name, values, indices):
    return _types[name](values, indices)
