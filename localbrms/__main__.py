"""Entry point for ``python -m localbrms``."""

from localbrms.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
