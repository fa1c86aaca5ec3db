"""``syncd run``: the config's schedules run until a signal stops the daemon; SIGHUP reloads
the config; health, readiness and metrics over HTTP; systemd readiness and watchdog."""
