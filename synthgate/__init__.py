"""synthgate's command line: the one module that sees every part (docs/architecture.md, layers)."""
