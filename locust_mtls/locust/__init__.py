"""The only room that imports Locust: options, plugin hooks, user classes, the web UI tab,
distributed aggregation.

May import every other room; no other room imports this one.
"""
