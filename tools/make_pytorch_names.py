"""Writes the PyTorch name lists that tools/coverage.py counts ferrograd against.

Run once, with PyTorch installed, from the repository root:

    /tmp/torchvenv/bin/python tools/make_pytorch_names.py

It writes tools/pytorch_names/{tensor_methods,nn_classes,nn_functional,torch_functions}.txt, one
name per line, sorted, each under a header comment saying which torch version and which rule made
it. The lists are committed; coverage.py and its test need ferrograd only, never PyTorch.

What each list holds (a name is public when it does not start with "_"):

- tensor_methods: the public names of ``dir(torch.Tensor)``, methods and properties alike
  (``shape``, ``T`` and ``grad`` count as much as ``view``), as the issue's 604 counts them.
- nn_classes: the public classes in ``torch.nn``: the nn.Module subclasses (Linear, Conv2d ...)
  plus the five other classes scripts reach as ``nn.X`` (Parameter, Buffer,
  UninitializedParameter, UninitializedBuffer, LinearCrossEntropyOptions). The Module
  subclasses alone are 163 of them in torch 2.15; the issue's 168 is this fuller count.
- nn_functional: the public functions (Python and builtin) in ``torch.nn.functional``, without
  the ``__torch_function__`` dispatch helpers it imports (boolean_dispatch,
  handle_torch_function, has_torch_function*). Imported modules, typing names and constant
  dicts are not functions and are left out.
- torch_functions: the public names in ``torch`` that are callable and not classes (functions,
  builtins, op packets): ``torch.cat``, ``torch.manual_seed`` ...
"""

from __future__ import annotations

import inspect
import pathlib
import sys
import types

import torch
import torch.nn.functional as F
from torch import nn

OUT = pathlib.Path(__file__).resolve().parent / "pytorch_names"
DISPATCH_HELPERS = {"boolean_dispatch", "handle_torch_function", "has_torch_function", "has_torch_function_unary",
                    "has_torch_function_variadic"}


def public(obj: object) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def tensor_methods() -> list[str]:
    return public(torch.Tensor)


def nn_classes() -> list[str]:
    return [n for n in public(nn) if isinstance(getattr(nn, n), type)]


def nn_functional() -> list[str]:
    def is_function(obj: object) -> bool:
        return inspect.isfunction(obj) or inspect.isbuiltin(obj)

    return [n for n in public(F) if is_function(getattr(F, n)) and n not in DISPATCH_HELPERS]


def torch_functions() -> list[str]:
    def is_function(obj: object) -> bool:
        return callable(obj) and not isinstance(obj, (type, types.ModuleType))

    return [n for n in public(torch) if is_function(getattr(torch, n))]


LISTS = {
    "tensor_methods": (tensor_methods, "public names of dir(torch.Tensor) (methods and properties)"),
    "nn_classes": (nn_classes, "public classes in torch.nn (nn.Module subclasses, Parameter, Buffer ...)"),
    "nn_functional": (nn_functional, "public functions in torch.nn.functional, without the __torch_function__ dispatch helpers"),
    "torch_functions": (torch_functions, "public callables in torch that are not classes or modules"),
}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, (make, rule) in LISTS.items():
        names = make()
        header = (
            f"# {len(names)} names: {rule}.\n"
            f"# Made by tools/make_pytorch_names.py from torch {torch.__version__} (Python {sys.version.split()[0]}).\n"
        )
        (OUT / f"{name}.txt").write_text(header + "".join(n + "\n" for n in names))
        print(f"{name}: {len(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
