"""The harness every benchmark runs on: the bench database and its seeding (``db``), the
processes and their CPU from /proc (``procs``), percentiles (``stats``), the printed and JSON
report (``report``), requests in process (``inprocess``). Every app name bench/ uses is taken
from ``app`` alone, so a move in the app's layout is fixed in one file."""
