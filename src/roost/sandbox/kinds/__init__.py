"""Sandbox types beyond ``base``: a headless browser and an X desktop that wrap a base
sandbox, and the agent tools of every type."""
