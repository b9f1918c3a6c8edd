"""``python -m wavelet_networks.data.magnatagatune ROOT CACHE_DIR``: decode MagnaTagATune once."""

import sys

from wavelet_networks.data.magnatagatune import main

sys.exit(main())
