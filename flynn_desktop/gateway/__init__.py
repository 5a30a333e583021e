"""The local gateway: the OpenAI, Ollama, Anthropic and Responses HTTP dialects and a WebSocket
JSON-RPC protocol, in-process."""
