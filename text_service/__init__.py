"""Hearth's text service: one causal language model behind gRPC, with continuous batching and streaming."""
