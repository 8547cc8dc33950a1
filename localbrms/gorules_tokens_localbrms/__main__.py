"""Entry point for ``python -m gorules_tokens_localbrms``."""

from gorules_tokens_localbrms.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
