"""Benchmarks of Golden Rule: REST speed beside the stock ``rasa init`` bot, and store scale."""
