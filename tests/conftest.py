"""Test configuration: hypothesis profiles ("ci" is derandomized, loaded when CI is set)
and the tests directory on sys.path for the shared `oracle` helpers."""

import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=8,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=8,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE",
                                                                        "dev"))
