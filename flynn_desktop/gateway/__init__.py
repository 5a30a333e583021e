"""The local gateway: OpenAI and Ollama HTTP dialects and a WebSocket JSON-RPC protocol, in-process."""
