"""The coding agent: a confined workspace, edit blocks, a limited shell, checkpoints and the tools the model calls."""
