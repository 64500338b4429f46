"""A simulated PlanExe pipeline for exercising the exporter against real Luigi logs.

It mirrors PlanExe's 61 task classes and their dependency graph, but each task only sleeps a seeded duration and
prints PlanExe-like chatter, so failures, retries, resumes and kills can be reproduced in seconds and compared
against an exact record of what Luigi did (see ``truth``). Run it with ``python -m exporter.demo --help``.
"""
