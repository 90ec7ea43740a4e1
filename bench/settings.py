"""The product's settings with the benchmark baselines' URLs mounted beside the product's."""

from controlplane.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
