"""The harness every benchmark runs on: the bench database (``db``) and its seeding (``seed``),
processes and their CPU from /proc (``procs``), the HTTP client (``http``), percentiles (``stats``),
reports (``report``), requests in process (``inprocess``). Every app name bench/ uses is taken
from ``app`` alone, so a move in the app's layout is fixed in one file."""
