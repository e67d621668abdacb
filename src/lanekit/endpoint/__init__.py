"""One door to an OpenAI-compatible endpoint: what it serves (`probe`), how to talk to it (`client`)."""
