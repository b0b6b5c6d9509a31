"""Collection rules for the package's doctests (``pytest --doctest-modules``).

``sklearn_backprop/onnx.py`` needs the optional ``onnx`` extra: without it,
its doctests are not collected, as ``tests/test_onnx.py`` skips.
"""

import importlib.util


def _missing(name):
    try:
        return importlib.util.find_spec(name) is None
    except ValueError:  # a module set to None in sys.modules
        return True


collect_ignore = []
if any(map(_missing, ("skl2onnx", "onnx", "onnxruntime"))):
    collect_ignore.append("sklearn_backprop/onnx.py")
