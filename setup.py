"""htcmesos: HTCondor as a service on Mesos (one distribution, console script `htcmesos`)."""
from setuptools import find_packages, setup

setup(
    name="htcmesos",
    version="0.1.0",
    description="HTCondor pools as Docker tasks on Mesos or Marathon, elastic and multi-site",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["framework", "framework.*", "dashboards", "dashboards.*"]),
    package_data={"framework": ["templates/*.yaml"],
                  "dashboards": ["templates/*.html", "static/*", "grafana/*.json",
                                 "prometheus/*.yml"]},
    install_requires=[
        "PyYAML>=6.0,<7",
        "click>=8.1,<9",
        "htcondor>=24.0,<26",
        "requests>=2.28,<3",
        "kazoo>=2.9,<3",
        "docker>=7.0,<8",
        # pymesos needs http-parser, whose sdist must be rebuilt on CPython 3.11
        # (scripts/bootstrap.sh does it; see shared ENVIRONMENT.md).
        "pymesos>=0.3.15,<0.4",
        # the operators' view (dashboards/): the web app and the Prometheus exposition
        "flask>=3.0,<4",
        "prometheus-client>=0.17,<1",
    ],
    extras_require={
        "test": ["pytest>=7.4,<9", "pytest-timeout>=2.1,<3",
                 # the dashboard is tested in real headless Chromium (Debian chromium)
                 "selenium>=4.15,<5",
                 # the API's OpenAPI document is checked against the OpenAPI 3.0 schema
                 "openapi-spec-validator>=0.7,<1"],
        # bench/bench_elastic.py runs COBalD's LinearController as a baseline
        "bench": ["cobald>=0.14,<0.15"],
    },
    entry_points={"console_scripts": ["htcmesos=framework.cli:main"]},
)
