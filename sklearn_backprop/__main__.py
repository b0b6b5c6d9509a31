"""Run the main job: ``python -m sklearn_backprop --help``."""

from sklearn_backprop._cli import run

if __name__ == "__main__":
    raise SystemExit(run())
