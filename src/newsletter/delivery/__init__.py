"""Delivery: an issue in the outbox -> one message per subscriber, over SMTP, exactly once."""
