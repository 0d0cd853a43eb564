"""Capacity plan: every pod a stack schedules against its node groups' nodes (`python -m capacity`)."""
