"""bench/desk.py's model of the desk page's camera loop: which frame is sent when an answer comes back."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_desk", Path(__file__).resolve().parents[1] / "bench" / "desk.py")
assert _spec and _spec.loader
bench = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(bench)


def test_the_page_sends_the_newest_unsent_frame_or_waits_for_the_next_capture() -> None:
    assert bench.next_frame(0, 30.0) == (1, 100.0)  # frame 0 answered before frame 1 is captured: wait for it
    assert bench.next_frame(1, 350.0) == (3, 350.0)  # frames 2 and 3 captured meanwhile: 2 is never sent
    assert bench.next_frame(1, 200.0) == (2, 200.0)  # captured at that very moment: sent at once
    assert bench.next_frame(3, 399.0) == (4, 400.0)


def test_a_trial_ends_at_the_first_answer_that_read_the_code() -> None:
    answers = iter([bench.Answer(30.0, False, 25.0), bench.Answer(250.0, False, 240.0), bench.Answer(20.0, True, 9.0)])
    sent = bench.run_trial(lambda _index: next(answers))
    assert [(s.index, s.sent_at) for s in sent] == [(0, 0.0), (1, 100.0), (3, 350.0)]
    assert sent[-1].answered_at == 370.0


def test_a_code_never_read_is_a_failed_trial_not_a_time() -> None:
    with pytest.raises(bench.Unanswered):
        bench.run_trial(lambda _index: bench.Answer(150.0, False, 140.0), max_frames=5)
