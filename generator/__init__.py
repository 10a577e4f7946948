"""instructforge: turn your own documents into fine-tuning data you can train on and defend.

Importing the package changes nothing in the process environment. The offline defaults
(``generator.config.apply_offline_defaults``: LiteLLM's bundled price map, tiktoken's bundled
files, no hub downloads) are set by the CLI at start, and by the library only at the moment it
first loads LiteLLM, a tokenizer, presidio or an embedding model.
"""

__version__ = "0.1.0"
