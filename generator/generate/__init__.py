"""The generate stage: chunks in, validated and tagged records out.

Pure parts (no I/O beyond reading data files), used by the engine loop:

``prompts`` — templates as data (``prompts/<id>.yaml``)
    ``load_template(id_or_path) -> PromptTemplate`` (user folder ``INSTRUCTFORGE_PROMPTS``
    first, then the shipped ``prompts/``; PromptFileError names path and field);
    ``list_templates() -> [(Ref, description, path)]``; ``template.ref`` is
    ``Ref(id, version, sha256 of the file)``; ``template.sampling`` (temperature, top_p,
    max_tokens), ``template.records_per_call``, ``template.seeds`` (k, n_from_seeds,
    n_from_pool, or None when the template takes no examples), ``template.bounds``,
    ``template.turns`` (a conversation's min/max turns, or None);
    ``render(template, chunk, examples, n) -> [{"role", "content"}, ...]``;
    ``reply_schema(format, n, bounds, turns=None) -> JSON Schema of {"records": [...]}``.

``seeding`` — Self-Instruct in-context examples
    ``load_seeds(path=None) -> [Example]`` (default ``prompts/seeds/generic.jsonl``;
    ConfigError names file and line); ``seeds_sha256(seeds)``; ``rng_for(*parts)`` (a seeded
    ``random.Random``); ``sample_examples(seeds, pool, rng, k=8, n_from_pool=2)``.
    Pass ``[e.as_dict() for e in examples]`` to ``render``.

``parsing`` — reply to records
    ``parse_reply(text, format, finish_reason=, meta=, schema=, turns=) -> ParsedReply`` with
    ``.reason`` (whole reply unusable: ``truncated``, ``empty``, ``invalid_json``,
    ``no_records``), ``.items`` ([Checked(fields | None, error: Reason | None)]),
    ``.valid`` (field dicts without meta), ``.errors``, ``.reasoning`` (``<think>`` text, never
    parsed); with ``turns=(min, max)`` every record must be a well-formed conversation
    (``records.turn_problem``), else ``conversation:<fault>``.
    ``summarise(parsed) -> Reason | None`` for a reply without a valid record;
    ``reask_messages(messages, bad_reply, reason)`` returns a new list (caller's untouched).
    ``Reason(code, detail)``; ``str(reason)`` is ``"code: detail"``.

``filters`` — the paper's instruction filters
    ``InstructionFilter(InstructionFilterConfig(...)).check(instruction, output=None)
    -> (ok, reason)`` with reasons ``too_short``, ``too_long``, ``blacklisted:<word>``,
    ``banned_prefix``, ``leading_punctuation``, ``non_english_start``,
    ``output_copies_instruction`` (journal them as ``filter: <reason>``).

``generator.textsim`` (flat core module, shared with curation) — novelty
    ``NoveltyIndex(texts=())``: ``add(text)``, ``search(text, threshold=0.7) -> Match | None``
    (best pool item with ROUGE-L F1 > threshold), ``is_novel``, ``add_if_novel`` (returns the
    blocking Match or None), ``max_rouge_l``. Same decisions as Self-Instruct's all-pairs
    rouge-score check; add the seed instructions first, as the paper's pool includes them.
    Reject reason: ``not_novel: rougeL=0.82 vs '<match.text>'``.
"""
