"""The image generation service: one diffusers pipeline behind gRPC, with step streaming, cancellation and
batching of compatible requests."""
