"""The HTTP gateway: REST, Server-Sent Events and the OpenAI dialect in front of the gRPC model services.

It holds no model and imports no torch, so it starts in a second and scales independently of the GPUs.
"""
