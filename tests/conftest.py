"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import os

# scikit-learn's estimator checks include an array-API check that runs only with this set
# (it must be set before scipy/sklearn are imported)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
