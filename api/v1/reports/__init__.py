"""Sums over time: usage and cost, tools, errors, acceptance, activity, data issues, dead letters,
pipeline state; and export."""
