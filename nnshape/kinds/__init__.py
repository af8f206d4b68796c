"""Layer kinds: every module here registers its kinds with nnshape.registry.register."""
