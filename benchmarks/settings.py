"""Settings for benchmarks: the test settings plus django-auditlog and the benchmark app."""

from config.settings.test import *  # noqa: F403
from config.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "auditlog", "benchmarks.benchapp"]
