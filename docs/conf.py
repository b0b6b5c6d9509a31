"""Sphinx configuration for the sklearn-backprop documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors). The gallery in ``examples/`` is executed at build time and rendered
into ``docs/auto_examples``; the API pages are generated into
``docs/generated``. Both folders are build output (gitignored).
"""

import os
import re

# Examples are executed in this process. Draw off-screen, and keep BLAS to
# one thread: the gallery's matrices are small, so threads gain nothing, and
# on a busy two-core machine (CI) OpenBLAS threads spinning against other
# processes made fits 20-100 times slower. Set before NumPy is imported;
# values already in the environment win.
os.environ.setdefault("MPLBACKEND", "Agg")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sphinx_gallery.sorting import ExplicitOrder  # noqa: E402

import sklearn_backprop  # noqa: E402

project = "sklearn-backprop"
author = "sklearn-backprop developers"
copyright = "sklearn-backprop developers, BSD-3-Clause"
release = sklearn_backprop.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax from the sphinx-mathjax-offline package (the docs extra): it
    # copies MathJax 3 into _static/mathjax and points mathjax_path there, so
    # the math renders without network access. Without it, sphinx.ext.mathjax
    # loads MathJax from a CDN and an offline reader sees raw LaTeX.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# sphinx.ext.intersphinx is left out on purpose: its inventories are downloaded
# at build time, and the build must work without network access. References
# to numpy, scipy and scikit-learn objects are rendered as plain literals.

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"

# -- autodoc / autosummary / numpydoc --------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a module page lists its __all__
autodoc_typehints = "none"  # types are given in the numpydoc sections
numpydoc_show_class_members = False  # the class template lists members
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": ExplicitOrder(
        [
            "plot_seed_network.py",
            "plot_linear_vs_nonlinear.py",
            "plot_sum_of_sigmoids.py",
            "plot_tuning_digits.py",
            "plot_evidence.py",
            "plot_solvers.py",
            "plot_levenberg_marquardt.py",
            "plot_speed_vs_mlp.py",
        ]
    ),
    # A broken example fails the build, not just its own page.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "doc_module": ("sklearn_backprop",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"sklearn_backprop": None},
    "remove_config_comments": True,
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
}

# -- HTML ------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"sklearn-backprop {release}"
html_static_path = []
html_theme_options = {
    "description": "The classic backpropagation network as a scikit-learn estimator",
    "fixed_sidebar": True,
    "page_width": "1100px",
}


# -- docstring fixes applied at build time -----------------------------------
# Methods inherited from scikit-learn (score, get_params, the metadata-routing
# set_*_request methods) carry :ref: and :term: roles that point into
# scikit-learn's own documentation, which cannot be reached without network
# access. Render those roles as plain text in docstrings from sklearn itself.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def _strip_sklearn_roles(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module == "sklearn" or module.startswith("sklearn."):
        lines[:] = [
            _SKLEARN_ROLE.sub(lambda m: m.group(1) or m.group(2), line)
            for line in lines
        ]


# In a numpydoc "name : type" line, a name ending in an underscore inside the
# type, as in "ndarray of shape (n_features_in_,)", is a reST reference to a
# target that does not exist. Render such names as literals.
_SPEC_LINE = re.compile(r"^(\s*[\w*][\w*, ]* : )(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _literal_underscore_names_in_types(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        match = _SPEC_LINE.match(line)
        if match:
            spec = _TRAILING_UNDERSCORE.sub(r"``\1``", match.group(2))
            lines[i] = match.group(1) + spec


def setup(app):
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _strip_sklearn_roles, priority=400)
    app.connect(
        "autodoc-process-docstring", _literal_underscore_names_in_types, priority=400
    )
