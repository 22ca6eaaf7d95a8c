"""The mathematics of latent-space alignment: numpy/scipy only, accepts torch tensors too."""
