"""Golden Rule custom actions (rasa-sdk). Importing this package connects to nothing."""
