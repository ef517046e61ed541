"""The strict Mesos master emulator: v1 scheduler API over HTTP, agents, offers, tasks."""
