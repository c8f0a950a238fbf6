"""pipeline: SAC, replay buffers with provenance, configs, checkpoints and the training loop."""
