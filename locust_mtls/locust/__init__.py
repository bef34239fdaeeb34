"""The only room that imports Locust: plugin hooks, user classes and their sessions, the
request event every checked request passes, the web UI tab, metrics, distributed runs, audit.

May import every other room; no other room imports this one.
"""
