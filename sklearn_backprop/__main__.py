"""Run the main job: ``python -m sklearn_backprop --help``."""

from sklearn_backprop._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
