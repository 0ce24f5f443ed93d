"""Services behind the actions: plain functions over a store session, no Rasa types."""
