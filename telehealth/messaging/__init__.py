"""Sending SMS, low in the house so every room may use it: outbox, wording, dispatcher, backends, status callbacks."""
