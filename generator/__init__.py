"""instructforge: turn your own documents into fine-tuning data you can train on and defend."""

from generator.config import apply_offline_defaults

__version__ = "0.1.0"

# Before anything imports LiteLLM, tiktoken or presidio: no network at run time.
apply_offline_defaults()
