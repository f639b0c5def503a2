"""Users and roles, patients, sitters, phone identity, log-in and API tokens."""
