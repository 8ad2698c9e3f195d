"""`make demo` (continuum/demo.py) on a home an earlier demo left: it says what to do before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXTERNAL_BOOTSTRAP, make_settings
from test_pipeline_support import valid_events, write_batch

from common.settings import Settings
from continuum import demo
from infra import embedded_broker

PROVIDER = "okc-trauma-hvip"


@pytest.mark.skipif(EXTERNAL_BOOTSTRAP is not None, reason="about the embedded broker")
def test_a_home_left_by_a_stopped_embedded_broker_is_refused_before_a_broker_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_steps(report_dir: str) -> list:
        raise AssertionError("the demo went on to its steps")  # and would have run them in this home

    monkeypatch.setattr(demo, "steps", no_steps)
    settings = make_settings(tmp_path / "home")
    assert demo.left_by_a_stopped_broker(settings) is None  # nothing landed yet: a fresh home runs
    write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 5))
    assert demo.main(settings) == 1
    said = capsys.readouterr()
    assert f"rm -rf {settings.state_dir}" in said.err
    assert not embedded_broker.status(settings).running  # refused before step 1 started one


def test_a_home_whose_broker_still_runs_is_no_reason_to_stop(own_broker: Settings) -> None:
    write_batch(own_broker, PROVIDER, 0, 0, valid_events(own_broker, PROVIDER, 5))
    assert demo.left_by_a_stopped_broker(own_broker) is None
