"""The SMS entry point: signed webhook, keyword parsing, routing to the room that owns each intent."""
