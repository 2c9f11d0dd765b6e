"""The standard normal cdf ``Φ`` and its log, in numpy: the one definition the learner model uses
(the online filter, the history encoder's scoring and every prediction made from them).

numpy has no erf, and ``math.erf`` through ``np.frompyfunc`` is slow for 1,000 KCs, so ``Φ`` uses
the Abramowitz-Stegun 7.1.26 rational approximation of erf (max error 1.5e-7), plenty for
probabilities. The torch side (``model.py``, training) uses ``torch.special.ndtr``/``log_ndtr``.
"""

from __future__ import annotations

import math

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    sign = np.sign(x)
    ax = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * ax)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-ax * ax))


def ndtr(x: np.ndarray) -> np.ndarray:
    """``Φ(x)``, elementwise."""
    return 0.5 * (1.0 + _erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def log_ndtr(x: np.ndarray) -> np.ndarray:
    """``log Φ(x)``, elementwise, finite deep in the lower tail."""
    # The ratio pdf/cdf must stay finite deep in the lower tail (a very surprising answer), where
    # the Mills-ratio asymptote is accurate and the direct formula underflows.
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    low = x < -5.0
    out[~low] = np.log(np.maximum(ndtr(x[~low]), 1e-300))
    xl = x[low]
    out[low] = -0.5 * xl * xl - np.log(-xl) - 0.5 * math.log(2 * math.pi) + np.log1p(-1.0 / (xl * xl))
    return out
