"""Benchmarks for issue 8 (`make bench`): throughput vs mtail, live latency, memory, scrape cost, idle CPU."""
