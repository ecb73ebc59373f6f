"""What both model services share: the gRPC host (health, reflection, graceful drain), request errors,
structured logging and device selection. Nothing here knows about a particular model."""
