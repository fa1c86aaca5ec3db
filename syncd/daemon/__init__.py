"""The daemon: schedules, signals, health and metrics endpoint, sd_notify."""
