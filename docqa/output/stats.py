"""Counts kept while rows are written: the run's statistics and the quality report (stats.json).

Each writer of a part of the dataset keeps its own; they add up (`merge`) into the run's."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

from docqa.config import CostConfig
from docqa.output.report import histogram
from docqa.quality.decontaminate import CONTAMINATED, EVAL_PAGE
from docqa.quality.folding import tokens
from docqa.quality.language import UNDETERMINED
from docqa.quality.pii import PERSONAL_DATA
from docqa.records import AnnotatedWindow, EngineTime


@dataclass
class Stats:
    inputs: int = 0
    documents_in_dataset: int = 0  # paths with a window in the dataset
    documents_rejected: int = 0  # paths with rejects and no window in the dataset
    windows_in_dataset: int = 0
    windows_rejected: int = 0
    pages_in_dataset: int = 0
    pages_rendered: int = 0
    pages_from_cache: int = 0
    texts_extracted: int = 0  # pages whose text this run read from the PDF (text layer or OCR)
    pages_ocr: int = 0
    qa_generated: int = 0
    qa_kept: int = 0
    qa_kept_by_origin: Counter = field(default_factory=Counter)  # llm, table, form, key_value
    qa_dropped: Counter = field(default_factory=Counter)
    rejects_by_stage: Counter = field(default_factory=Counter)
    rejects_by_kind: Counter = field(default_factory=Counter)
    rejects_by_reason: Counter = field(default_factory=Counter)  # rejected windows by their whole error
    finish_reasons: Counter = field(default_factory=Counter)
    examples_per_split: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    output_tokens: int = 0
    check_prompt_tokens: int = 0  # sent to the model by the round trip and the judge, over all pairs checked
    check_output_tokens: int = 0
    windows_cut_to_fit: int = 0
    examples_per_prompt: Counter = field(default_factory=Counter)
    examples_per_language: Counter = field(default_factory=Counter)  # by ISO 639-1 code; "": undetermined
    answer_tokens: Counter = field(default_factory=Counter)  # kept pairs by answer length
    support_kept: Counter = field(default_factory=Counter)  # kept pairs by support score (to 0.01)
    support_dropped: Counter = field(default_factory=Counter)
    answers_located: int = 0
    contaminated: defaultdict = field(default_factory=lambda: defaultdict(Counter))  # eval set -> removed counts
    personal_data: defaultdict = field(default_factory=lambda: defaultdict(Counter))  # kind -> pairs, windows
    cpu_seconds: Counter = field(default_factory=Counter)  # by stage
    gpu_seconds: float = 0.0
    engines: dict = field(default_factory=dict)  # engine -> its EngineTime summed over the windows it generated

    def add(self, window: AnnotatedWindow) -> None:
        if window.from_cache:
            self.pages_from_cache += len(window.images)
        else:
            self.pages_rendered += len(window.images)
            self.texts_extracted += len(window.text_sources)
            self.pages_ocr += window.text_sources.count("ocr")
        if window.prompt_token_ids:  # reached the engine
            self.prompt_tokens += len(window.prompt_token_ids)
            self.windows_cut_to_fit += window.document_tokens_dropped > 0
        if window.finish_reason:
            self.output_tokens += window.output_tokens
            self.finish_reasons[window.finish_reason] += 1
        self.check_prompt_tokens += sum(c.prompt_tokens for c in window.checks)
        self.check_output_tokens += sum(c.output_tokens for c in window.checks)
        self.qa_generated += len(window.qa) + len(window.dropped)
        self.qa_kept += len(window.qa)
        self.qa_kept_by_origin.update(p.origin for p in window.qa)
        self.qa_dropped.update(d.reason for d in window.dropped)
        for d in window.dropped:
            if d.reason == CONTAMINATED:
                self.contaminated[d.about]["pairs"] += 1
            elif d.reason == PERSONAL_DATA:
                for kind in d.about.split(","):
                    self.personal_data[kind]["pairs"] += 1
        self.answer_tokens.update(len(tokens(p.answer)) for p in window.qa)
        self.support_kept.update(round(p.support, 2) for p in window.qa)
        self.support_dropped.update(round(d.support, 2) for d in window.dropped)
        self.answers_located += sum(p.page >= 0 for p in window.qa)
        if window.engine_time.engine:
            self._add_engine_time(window.engine_time)
        for cost in window.costs:
            self.cpu_seconds[cost.stage] += cost.cpu_s
            self.gpu_seconds += cost.gpu_s
        if window.error:
            if window.error.kind == EVAL_PAGE:
                self.contaminated[window.error.about]["windows"] += 1
                self.contaminated[window.error.about]["pages"] += len(window.pages)
            elif window.error.kind == PERSONAL_DATA:
                for kind in window.error.about.split(","):
                    self.personal_data[kind]["windows"] += 1
            self.windows_rejected += 1
            self.rejects_by_stage[window.error.stage] += 1
            self.rejects_by_kind[window.error.kind] += 1
            self.rejects_by_reason[str(window.error)] += 1
        else:
            self.windows_in_dataset += 1
            self.pages_in_dataset += len(window.pages)
            self.examples_per_prompt[window.prompt_id] += 1
            self.examples_per_language[window.language] += 1

    def merge(self, other: Stats) -> None:
        """Add `other`'s counts to these: the statistics of two parts of the dataset, as one."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, defaultdict):  # eval set -> counts
                for name, counts in theirs.items():
                    mine[name].update(counts)
            elif f.name == "engines":
                for timing in theirs.values():
                    self._add_engine_time(timing)
            elif isinstance(mine, Counter):
                mine.update(theirs)
            else:
                setattr(self, f.name, mine + theirs)

    def quality(self) -> dict[str, Any]:
        """The quality report: drop rates per filter, yield per page, answer lengths, grounding scores, the
        examples per language (`und`: undetermined), what each eval set removed (windows, their pages,
        pairs), and the pairs and windows removed for each kind of personal data (a pair may hold several)."""
        generated = max(self.qa_generated, 1)
        return {
            "qa_drop_rate_by_reason": {r: round(n / generated, 4) for r, n in self.qa_dropped.most_common()},
            "qa_kept_rate": round(self.qa_kept / generated, 4),
            "qa_per_page": round(self.qa_kept / max(self.pages_in_dataset, 1), 3),
            "qa_per_page_by_origin": {
                origin: round(n / max(self.pages_in_dataset, 1), 3) for origin, n in self.qa_kept_by_origin.most_common()
            },
            "answers_located_on_page": round(self.answers_located / max(self.qa_kept, 1), 4),
            "answer_tokens_histogram": histogram(self.answer_tokens, [1, 2, 4, 8, 16, 32, 64, 128]),
            "support_histogram_kept": histogram(self.support_kept, [i / 10 for i in range(11)]),
            "support_histogram_dropped": histogram(self.support_dropped, [i / 10 for i in range(11)]),
            "examples_per_language": {code or UNDETERMINED: n for code, n in self.examples_per_language.most_common()},
            "removed_as_contaminated": {
                name: {f"{what}_removed": counts[what] for what in ("windows", "pages", "pairs")}
                for name, counts in sorted(self.contaminated.items())
            },
            "removed_for_personal_data": {
                kind: {"pairs_removed": counts["pairs"], "windows_removed": counts["windows"]}
                for kind, counts in sorted(self.personal_data.items())
            },
        }

    def _add_engine_time(self, timing: EngineTime) -> None:
        seen = self.engines.setdefault(timing.engine, EngineTime(timing.engine, timing.ready_at, timing.start_s))
        seen.span_s += timing.span_s
        seen.busy_s += timing.busy_s
        seen.most_requests = max(seen.most_requests, timing.most_requests)

    def engine(self, run_started_at: float) -> dict[str, Any]:
        """How the engines that generated this run's windows were kept busy: when the last of them became
        ready (seconds after the run started), how long starting took, the share of their time from ready
        to their last batch with at least one request in them, and the most requests one held at once.
        Windows resumed from an earlier run are left out."""
        engines = [e for e in self.engines.values() if e.ready_at >= run_started_at]
        if not engines:
            return {}
        return {
            "engines": len(engines),
            "ready_after_s": round(max(e.ready_at for e in engines) - run_started_at, 1),
            "start_s": round(max(e.start_s for e in engines), 1),
            "busy_share": round(sum(e.busy_s for e in engines) / max(sum(e.span_s for e in engines), 1e-9), 3),
            "most_requests_at_once": max(e.most_requests for e in engines),
        }

    def cost(self, prices: CostConfig) -> dict[str, Any]:
        """What the run used, measured in the stages, and what that costs at `prices`."""
        cpu = sum(self.cpu_seconds.values())
        total = cpu / 3600 * prices.cpu_hour + self.gpu_seconds / 3600 * prices.gpu_hour
        return {
            "cpu_seconds": round(cpu, 1),
            "cpu_seconds_by_stage": {stage: round(s, 1) for stage, s in self.cpu_seconds.items()},
            "gpu_seconds": round(self.gpu_seconds, 1),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            # of the model's work, what the checks of its pairs took (their time is in the generate stage's)
            "check_prompt_tokens": self.check_prompt_tokens,
            "check_output_tokens": self.check_output_tokens,
            "prices": {"cpu_hour": prices.cpu_hour, "gpu_hour": prices.gpu_hour, "currency": prices.currency},
            "total": round(total, 6),
            "per_1000_kept_pairs": round(total / self.qa_kept * 1000, 6) if self.qa_kept else None,
        }
