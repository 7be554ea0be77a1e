"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import atexit
import os
import shutil
import tempfile

# scikit-learn's estimator checks include an array-API check that runs only with this set
# (it must be set before scipy/sklearn are imported)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from hypothesis import HealthCheck, settings

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
