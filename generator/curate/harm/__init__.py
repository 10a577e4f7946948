"""The offline harmful-content classifier behind the ``harmful`` curation step:
``patterns`` (precise phrasings), ``cues`` (families of phrasings weighed by the model),
``exemplars`` (the bundled, validated data file) and ``classifier`` (the fitted model)."""
