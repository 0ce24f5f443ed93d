"""Evaluation of Golden Rule's understanding (`make eval`)."""
