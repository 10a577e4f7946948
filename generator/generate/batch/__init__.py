"""``generate --batch``: the run's requests through a provider's batch API.

:mod:`.queue` (the batch engine behind the one-call provider contract), :mod:`.journal`
(every step of a batch in the run journal), :mod:`.backend` (the engine's backend),
:mod:`.cancel` (``runs cancel``). The provider clients are in
:mod:`generator.providers.batch`.
"""
