"""Shared test settings: hypothesis profiles sized for a 2-core CI machine, a private cache
for the session, and a custom activation for the tests of code that must handle one."""

import atexit
import os
import shutil
import tempfile

# scikit-learn's estimator checks include an array-API check that runs only with this set
# (it must be set before scipy/sklearn are imported)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from chainrule.activations import Activation

# The tests (and the commands they start) keep their caches and "latest model" pointer out of
# the user's ~/.cache/chainrule, in a directory removed at the end of the session.
_CACHE = tempfile.mkdtemp(prefix="chainrule-tests-")
os.environ["CHAINRULE_CACHE"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class Softsign(Activation):
    """A user's own activation, under a name chainrule does not know: s = net / (1 + |net|)."""

    name = "softsign"

    def forward(self, net, out=None):
        return np.divide(net, 1 + np.abs(net), out=out)

    def derivative(self, out):
        return (1 - np.abs(out)) ** 2  # 1 / (1 + |net|)^2 written from the output


@pytest.fixture
def softsign():
    """A custom activation (not one of chainrule's), for the tests of what handles one."""
    return Softsign()
