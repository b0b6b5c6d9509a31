"""User-facing text: it names its source properly and renders offline."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_FACING = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.rst")),
    *sorted((ROOT / "examples").glob("*.py")),
    *sorted((ROOT / "sklearn_backprop").glob("*.py")),
]


@pytest.mark.parametrize("path", USER_FACING, ids=lambda p: p.name)
def test_text_speaks_of_the_notes_not_of_a_seed(path):
    # "the seed" reads as a random seed: the backpropagation notes are cited
    # once and then called "the notes"
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\bthe seed\b", text, re.IGNORECASE), path


def test_docs_render_math_without_network_access():
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert "sphinx-mathjax-offline" in conf  # MathJax copied into _static
