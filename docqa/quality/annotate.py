"""Gather each window's QA pairs, filter them (the text filters, then on what the model said about each of
its own pairs in the generate stage: `docqa.quality.verify`), drop those asking an eval set's question
about a page like its image (`docqa.quality.decontaminate`), and locate each kept LLM answer on its page.

Pairs come from the generators `qa.generators` names: the LLM's completion, parsed into pairs, and the
pairs the load stage read off the pages' structure (`docqa.ingest.structure`), which come first so that
an LLM pair repeating one of their questions is the one dropped. A structure question asked twice in a
window with different answers (two tables with a "Total" row, two fields labelled "Date") does not say
which it means: every pair asking it is dropped (`ambiguous_labels`). Structure pairs then go through the
same text filters as LLM pairs, personal data and language included (their support is 1.0 by
construction; the copy check, the cross-page evidence check and the model's checks do not apply), and at
most `qa.max_structure_pairs_per_page` of them are kept per page (`over_page_limit`), chosen by a hash of
their question.

A completion that is not the requested JSON (a base model that ran out of tokens mid-string) fails the
window (kind `not_json`) with the finish reason, unless structure pairs were read off its pages: then
they stand alone. A window whose pairs were all filtered out fails (stage `filter`, kind `no_pair_kept`)
with the count per reason, and so does one with a pair holding personal data under `pii.policy:
drop_window` (kind `personal_data`). All end in the rejects table. Without `llm` among the generators
this stage takes the loaded windows directly, and no prompt or engine stage runs before it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from docqa.config import FilterConfig, PiiConfig, QAConfig
from docqa.generate.answer import parse_completion
from docqa.generate.prompts import PromptTemplate
from docqa.quality.decontaminate import EvalSets
from docqa.quality.filters import apply_filters, pair_filters, window_text
from docqa.quality.folding import folded_text
from docqa.quality.grounding import AnswerLocator
from docqa.quality.pii import IN_WINDOW, PERSONAL_DATA
from docqa.quality.verify import attach_checks, check_filters
from docqa.records import (
    AnnotatedWindow, DroppedPair, Failure, GeneratedWindow, PageWindow, QAPair, extend, no_pair_kept,
)
from docqa.runtime.stage import Resources, Stage


class ParseQA(Stage):
    name = "parse"
    input_type = PageWindow
    output_type = AnnotatedWindow

    def __init__(
        self,
        config: FilterConfig,
        templates: list[PromptTemplate],
        batch_size: int = 32,
        eval_sets: EvalSets | None = None,
        pii: PiiConfig | None = None,
        qa: QAConfig | None = None,
    ):
        # The plan passes the generate stage's batch size: under Ray, a larger one would hold generated
        # windows back until enough arrive, and a small run would commit no input before its end.
        self.resources = Resources(batch_size=batch_size, num_cpus=0.1)
        self.qa = qa or QAConfig()
        self.llm = "llm" in self.qa.generators
        if self.llm:  # the records come from the generate stage
            self.input_type = GeneratedWindow
        # The copy check compares with the examples of the template each window was prompted with.
        self.filters = {t.prompt_id: pair_filters(config, t, pii) + check_filters(config) for t in templates}
        self.unprompted_filters = pair_filters(config, None, pii)
        self.eval_sets = eval_sets
        self.drop_windows_with_personal_data = pii is not None and pii.policy == "drop_window"

    def setup(self) -> None:
        if self.eval_sets:
            self.eval_sets.load()

    def process(self, record: PageWindow) -> list[AnnotatedWindow]:
        structure, dropped = unambiguous([p for p in record.structure_pairs if p.origin in self.qa.generators])
        pairs: list[QAPair] = []
        if self.llm:
            try:
                pairs = parse_completion(record.completion)
            except ValueError as exc:
                if not structure:
                    detail = f"finish_reason={record.finish_reason}, {record.output_tokens} tokens"
                    return [self.fail(record, "not_json", f"completion is not the requested JSON ({exc}; {detail})")]
            attach_checks(pairs, record.checks)
        filters = self.filters[record.prompt_id] if self.llm else self.unprompted_filters
        kept, filtered = apply_filters(structure + pairs, window_text(record.texts), filters)
        kept, over = within_page_limit(kept, self.qa.max_structure_pairs_per_page)
        dropped += filtered + over
        if self.eval_sets and kept:
            kept, contaminated = self.eval_sets.drop_asked(kept, record.images)
            dropped += contaminated
        if self.drop_windows_with_personal_data and (holding := [d for d in dropped if d.reason == PERSONAL_DATA]):
            dropped += [DroppedPair(p.question, p.answer, IN_WINDOW, p.support, origin=p.origin) for p in kept]
            kinds = ",".join(sorted({kind for d in holding for kind in d.about.split(",")}))
            reason = f"personal data ({kinds.replace(',', ', ')}) in {len(holding)} QA pair(s) (pii.policy=drop_window)"
            rejected = extend(AnnotatedWindow, record, dropped=dropped)
            rejected.error = Failure("filter", PERSONAL_DATA, reason, kinds)
            return [rejected]
        locator = AnswerLocator(record.words)
        for pair in kept:
            if pair.origin == "llm":  # a structure pair's boxes are where it was read
                pair.page, pair.boxes = locator.locate(pair.answer)
        annotated = extend(AnnotatedWindow, record, qa=kept, dropped=dropped)
        if not kept:
            annotated.error = no_pair_kept("filter", dropped)
        return [annotated]


def unambiguous(pairs: list[QAPair]) -> tuple[list[QAPair], list[DroppedPair]]:
    """The pairs whose question, folded, is not asked elsewhere in the window with another answer; the
    others dropped as `ambiguous_labels`."""
    answers: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        answers[folded_text(pair.question)].add(folded_text(pair.answer))
    kept, dropped = [], []
    for pair in pairs:
        if len(answers[folded_text(pair.question)]) == 1:
            kept.append(pair)
        else:
            dropped.append(DroppedPair(pair.question, pair.answer, "ambiguous_labels", pair.support, origin=pair.origin))
    return kept, dropped


def within_page_limit(pairs: list[QAPair], limit: int) -> tuple[list[QAPair], list[DroppedPair]]:
    """At most `limit` structure pairs per page (0: no limit), LLM pairs not counted; the others dropped as
    `over_page_limit`. Those kept are the ones whose question hashes lowest: the same in every run, and
    spread over a table's rows and columns, where any fixed stride through its cells could pick one column."""
    if not limit:
        return pairs, []
    by_page: dict[int, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        if pair.origin != "llm":
            by_page[pair.page].append(index)
    over = set()
    for indexes in by_page.values():
        ranked = sorted(indexes, key=lambda i: hashlib.sha256(pairs[i].question.encode()).digest())
        over.update(ranked[limit:])
    kept = [p for i, p in enumerate(pairs) if i not in over]
    dropped = [
        DroppedPair(p.question, p.answer, "over_page_limit", p.support, origin=p.origin)
        for i, p in enumerate(pairs)
        if i in over
    ]
    return kept, dropped
