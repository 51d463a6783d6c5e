"""Parse each completion into typed QA pairs, filter them (the text filters, then on what the model said about
each pair in the generate stage: `docqa.quality.verify`), drop those asking an eval set's question about a
page like its image (`docqa.quality.decontaminate`), and locate each kept answer on its page.

A completion that is not the requested JSON (a base model that ran out of tokens mid-string) fails the
window (kind `not_json`) with the finish reason; a window whose pairs were all filtered out fails (stage
`filter`, kind `no_pair_kept`) with the count per reason, and so does one with a pair holding personal data
under `pii.policy: drop_window` (kind `personal_data`). All end in the rejects table.
"""

from __future__ import annotations

from docqa.config import FilterConfig, PiiConfig
from docqa.generate.answer import parse_completion
from docqa.generate.prompts import PromptTemplate
from docqa.quality.decontaminate import EvalSets
from docqa.quality.filters import apply_filters, pair_filters, window_text
from docqa.quality.grounding import AnswerLocator
from docqa.quality.pii import IN_WINDOW, PERSONAL_DATA
from docqa.quality.verify import attach_checks, check_filters
from docqa.records import AnnotatedWindow, DroppedPair, Failure, GeneratedWindow, extend, no_pair_kept
from docqa.runtime.stage import Resources, Stage


class ParseQA(Stage):
    name = "parse"
    input_type = GeneratedWindow
    output_type = AnnotatedWindow

    def __init__(
        self,
        config: FilterConfig,
        templates: list[PromptTemplate],
        batch_size: int = 32,
        eval_sets: EvalSets | None = None,
        pii: PiiConfig | None = None,
    ):
        # The plan passes the generate stage's batch size: under Ray, a larger one would hold generated
        # windows back until enough arrive, and a small run would commit no input before its end.
        self.resources = Resources(batch_size=batch_size, num_cpus=0.1)
        # The copy check compares with the examples of the template each window was prompted with.
        self.filters = {t.prompt_id: pair_filters(config, t, pii) + check_filters(config) for t in templates}
        self.eval_sets = eval_sets
        self.drop_windows_with_personal_data = pii is not None and pii.policy == "drop_window"

    def setup(self) -> None:
        if self.eval_sets:
            self.eval_sets.load()

    def process(self, record: GeneratedWindow) -> list[AnnotatedWindow]:
        try:
            pairs = parse_completion(record.completion)
        except ValueError as exc:
            detail = f"finish_reason={record.finish_reason}, {record.output_tokens} tokens"
            return [self.fail(record, "not_json", f"completion is not the requested JSON ({exc}; {detail})")]
        attach_checks(pairs, record.checks)
        kept, dropped = apply_filters(pairs, window_text(record.texts), self.filters[record.prompt_id])
        if self.eval_sets and kept:
            kept, contaminated = self.eval_sets.drop_asked(kept, record.images)
            dropped += contaminated
        if self.drop_windows_with_personal_data and (holding := [d for d in dropped if d.reason == PERSONAL_DATA]):
            dropped += [DroppedPair(p.question, p.answer, IN_WINDOW, p.support) for p in kept]
            kinds = ",".join(sorted({kind for d in holding for kind in d.about.split(",")}))
            reason = f"personal data ({kinds.replace(',', ', ')}) in {len(holding)} QA pair(s) (pii.policy=drop_window)"
            rejected = extend(AnnotatedWindow, record, dropped=dropped)
            rejected.error = Failure("filter", PERSONAL_DATA, reason, kinds)
            return [rejected]
        locator = AnswerLocator(record.words)
        for pair in kept:
            pair.page, pair.boxes = locator.locate(pair.answer)
        annotated = extend(AnnotatedWindow, record, qa=kept, dropped=dropped)
        if not kept:
            annotated.error = no_pair_kept("filter", dropped)
        return [annotated]
