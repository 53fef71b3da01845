"""Sans-I/O WebSocket protocol core (RFC 6455, RFC 7692) shared by server and client."""
