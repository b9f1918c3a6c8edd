"""scikit-learn's estimator checks on WaveletNetworkClassifier (all of them; see docs/timeseries.md).

The checks fit on scikit-learn's small tabular data sets (a few dozen rows of 2 to 10
"features"): read as series of 2 to 10 samples, zero-padded to the network's shortest
input. The instance under test trains 5 epochs (instead of 120) and does not z-score
each series (``normalize="none"``): a z-scored series of two samples keeps only the sign
of their difference, and check_classifiers_train asks for 83% training accuracy on
two-feature blobs. Every other parameter is the default.
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from wavelet_networks import WaveletNetworkClassifier

CHECKED = WaveletNetworkClassifier(max_epochs=5, normalize="none", progress_bar=False,
                                   accelerator="cpu")


@parametrize_with_checks([CHECKED])
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="series of .* are shorter than")
        check(estimator)
