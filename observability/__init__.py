"""What operators watch (#18): the desk's Prometheus instruments, their exposition across
processes, and log lines (key=value or JSON, with the request's id).

It imports nothing of the desk's, so every layer may measure: the intake service, the live
consumers, the assess endpoint. What the endpoint reads from the database at scrape time is
``cases.gauges``; the endpoint itself is ``handoff_site.monitoring``.
"""
