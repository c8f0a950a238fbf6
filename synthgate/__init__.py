"""synthgate's command line: the one module that sees every part (DESIGN.md, data flow)."""
