"""Studies built on the training engine (need the ``train`` extra).

- :mod:`wavelet_networks.studies.scale`: train at the original time scale, test
  on resampled test sets (``wavelet-networks scale-study``).
- :mod:`wavelet_networks.studies.compare`: a wavelet network, its
  parameter-matched CNN and MiniRocket side by side (``wavelet-networks compare``).
"""
