"""The status page: segments and their sizes over time, runs, backlog, held plans — read-only,
server-rendered HTML with inline SVG charts, served by the daemon or by ``syncd ui``."""
