"""Input channels of the rasa server: the website widget (Socket.IO) and Slack.

Both are referenced from ``credentials.yml`` by module path. Their settings come from the
environment (:mod:`channels.settings`), never from the repository.
"""
