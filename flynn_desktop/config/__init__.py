from flynn_desktop.config.loader import default_config_text, dump_yaml, load_config, redact, redacted
from flynn_desktop.config.schema import BUNDLED_MODEL, DEFAULT_MODEL, Config

__all__ = [
    "BUNDLED_MODEL",
    "DEFAULT_MODEL",
    "Config",
    "default_config_text",
    "dump_yaml",
    "load_config",
    "redact",
    "redacted",
]
