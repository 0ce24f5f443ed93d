"""Golden Rule's core package: what the rasa server, the action server and the tools share.

Modules here import nothing from ``actions`` or ``channels`` (dependencies point inward), and
nothing connects to anything at import time.
"""
