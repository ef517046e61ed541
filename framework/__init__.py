"""htcmesos: HTCondor as a service on Mesos (framework package: everything that decides and acts)."""

__version__ = "0.1.0"
