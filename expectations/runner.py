"""Run the suites on a group of landed files, keeping results and Data Docs under CONTINUUM_HOME.

A group is validated by one GX run per suite over one DataFrame of all its files (expectations/
families.py), so a run's cost grows with its rows, not with its number of files. Each failed
expectation's unexpected rows (GX's COMPLETE result format: their index) are mapped back to their file and
offset: a ROW rule holds back those rows, a BATCH rule holds those files (expectations/suites.py).

The context, its data source, assets and validation definitions are set up once per process
(`ValidationProject.for_settings` is cached). Each run stores its result in the context's validation
results store (CONTINUUM_HOME/gx/validations), from which `build_data_docs` renders GX Data Docs into
`settings.data_docs_dir`. The store keeps each suite's latest KEPT_RUNS_PER_SUITE runs: older results move to
CONTINUUM_HOME/gx/validations-archive (`archive_old_results`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults
from great_expectations.expectations.metadata_types import FailureSeverity

from common.directory import load_directory
from common.files import exclusive_lock
from common.settings import Settings
from expectations.families import BATCH_SUITE, GroupFrames, LandedFile
from expectations.suites import BATCH, SUITE_BUILDERS, build_suite, level_of, run_parameters, suite_name

DATA_SOURCE = "landed_batches"
BATCH_DEFINITION = "whole_batch"
DOCS_SITE = "continuum"
#: The results Data Docs are rendered from: each suite's latest this many GX runs (at 15-minute runs, a
#: day and more). GX lists and parses every result in the store on each render, and each validate task
#: renders: rendering one run took 0.27 s with 134 results on file and 0.6 to 0.7 s with 1,340 (10 M
#: events, docs/benchmarks.md), more with every run. Older results move to the archive beside the store,
#: and GX drops their pages from the site when it next writes the index.
KEPT_RUNS_PER_SUITE = 100


@dataclass
class FileVerdict:
    """What the suites said about one file of a group.

    `failed`: the BATCH rules it broke (the file is held); `held`: kafka offset -> the ROW rules that
    row broke (those rows are held, the rest loads); `warnings`: what is reported and holds nothing."""

    events: int = 0
    failed: list[str] = field(default_factory=list)
    held: dict[int, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failed


class ValidationProject:
    """An in-memory GX context whose expectations and results stores and Data Docs site are files.

    Suites, data sources and validation definitions stay in memory: each process builds its own from
    code, so validate tasks running at once never race on shared files (a file store of suites would be
    rewritten by every task while others read it). The one store they share on disk holds results, one
    file per run and suite, which no two tasks write."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = gx.get_context(mode="ephemeral", project_config=_context_config(settings))
        directory = load_directory(settings.provider_directory)
        self.directory_ids = tuple(directory)
        self.custody_ids = tuple(p.provider_id for p in directory.values() if p.publishes_custody_events)
        source = self.context.data_sources.add_pandas(DATA_SOURCE)
        self.definitions = {name: self._definition(source, name) for name in SUITE_BUILDERS}

    @classmethod
    def for_settings(cls, settings: Settings) -> ValidationProject:
        """The process's project for these settings, built on first use (the suites once per process)."""
        key = (settings.state_dir, settings.provider_directory.resolve())
        if key not in _PROJECTS:
            _PROJECTS[key] = cls(settings)
        return _PROJECTS[key]

    def _definition(self, source: Any, family: str) -> gx.ValidationDefinition:
        suite = self.context.suites.add(build_suite(family))
        batches = source.add_dataframe_asset(family).add_batch_definition_whole_dataframe(BATCH_DEFINITION)
        return self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name(family), data=batches, suite=suite)
        )

    def _run(self, family: str, frame: pd.DataFrame, params: dict[str, Any], run_name: str) -> dict[str, Any]:
        result = self.definitions[family].run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=params,
            run_id=RunIdentifier(run_name=run_name),
            result_format={"result_format": "COMPLETE"},  # every unexpected row's index: which rows failed
        )
        return result.to_json_dict()

    def validate_group(
        self,
        files: Sequence[LandedFile],
        run_name: str,
        known_ids_paths: Sequence[str] = (),
        late_counts_path: str | None = None,
    ) -> dict[str, FileVerdict]:
        """One GX run per suite over every row of `files`; a verdict per file (by batch name).

        The provider's history (its late counts from the run's `late_counts_path` when given; without
        the run's `known_ids_paths`, the ids loaded before too) comes from the warehouse, read only."""
        verdicts = {f.batch_name: FileVerdict() for f in files}
        if not files:
            return verdicts
        frames = GroupFrames(
            files, self.settings.warehouse_path, known_ids_paths, self.settings, late_counts_path
        )
        try:
            locations = frames.locations()
            for name, rows in locations.groupby("batch_name").size().items():
                verdicts[name].events = int(rows)
            if locations.empty:
                return verdicts
            params = run_parameters(self.directory_ids, self.custody_ids)
            for family in SUITE_BUILDERS:
                frame = frames.batch_frame() if family == BATCH_SUITE else frames.family_frame(family)
                if len(frame):
                    result = self._run(family, frame, params, run_name)
                    _apply(family, result, frame, locations, verdicts)
        finally:
            frames.close()
        return verdicts

    def build_data_docs(self, run_names: Iterable[str] | None = None) -> Path:
        """Render Data Docs: the pages of the results of `run_names` (None: of every result) and the
        index. Rendering only a run's own results keeps the step's time flat as results pile up.

        Renders take turns (a lock beside the site): a DAG run's validate tasks each render their own
        results, at the same time, and each rewrites the index from the results it finds; one at a
        time, the last to render finds every result written before it."""
        with exclusive_lock(self.settings.data_docs_dir.with_name("data_docs.lock")):
            gx_dir = self.settings.state_dir / "gx"
            archive_old_results(gx_dir / "validations", gx_dir / "validations-archive", KEPT_RUNS_PER_SUITE)
            if run_names is None:
                self.context.build_data_docs(site_names=[DOCS_SITE])
            else:
                wanted = set(run_names)
                store = self.context.validation_results_store
                keys = [k for k in store.list_keys() if k.run_id.run_name in wanted]
                if keys:  # an empty list would mean "everything" to GX
                    self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=keys)
        return self.settings.data_docs_dir / "index.html"


log = logging.getLogger(__name__)


def archive_old_results(store: Path, archive: Path, keep: int) -> int:
    """Move all but each suite's latest `keep` GX runs from the results `store` to `archive`, under the
    same paths; returns how many runs moved. The store's files are
    `<suite, one directory per dotted part>/<run name>/<run time>/<batch>.json`, run times in GX's
    `20261205T010851.401956Z` form, whose order as text is their order in time."""
    runs_by_suite: dict[tuple[str, ...], set[Path]] = {}
    for result in store.rglob("*.json"):
        run = result.parent.relative_to(store)
        runs_by_suite.setdefault(run.parts[:-2], set()).add(run)
    moved = 0
    for runs in runs_by_suite.values():
        for run in sorted(runs, key=lambda r: (r.name, r.parent.name), reverse=True)[keep:]:
            (archive / run).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(store / run, archive / run)
            if not any((store / run.parent).iterdir()):
                (store / run.parent).rmdir()
            moved += 1
    if moved:
        log.info("moved %d GX runs' results to %s (each suite keeps its latest %d)", moved, archive, keep)
    return moved


_PROJECTS: dict[tuple[Path, Path], ValidationProject] = {}


def _context_config(settings: Settings) -> DataContextConfig:
    gx_dir = settings.state_dir / "gx"
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars={"globally": False},
    )
    config.stores["validation_results_store"]["store_backend"] = _files(gx_dir / "validations")
    config.data_docs_sites = {
        DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": _files(settings.data_docs_dir),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    return config


def _files(directory: Path) -> dict[str, str]:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)}


def describe(family: str, outcome: dict[str, Any]) -> str:
    """A failed expectation that names no rows (an error, a table-wide expectation)."""
    config = outcome["expectation_config"]
    result = outcome.get("result") or {}
    detail = ""
    if "observed_value" in result:
        detail = f": observed {_plain(result['observed_value'])}"
    if outcome.get("exception_info", {}).get("raised_exception"):
        detail = f": error {outcome['exception_info']['exception_message']}"
    return f"{family}: {_rule(config)}{detail}"


def _plain(value: Any) -> Any:
    """A figure as a reader wants it: 14, not 14.0 (pandas makes nullable counts floats); 4 decimals."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return value
    return int(value) if float(value).is_integer() else round(float(value), 4)


def _apply(
    family: str,
    result: dict[str, Any],
    frame: pd.DataFrame,
    locations: pd.DataFrame,
    verdicts: dict[str, FileVerdict],
) -> None:
    """Turn a suite's failed expectations into held rows, held files and warnings, per file."""
    for outcome in result["results"]:
        if outcome["success"]:
            continue
        config = outcome["expectation_config"]
        critical = config.get("severity", FailureSeverity.CRITICAL.value) == FailureSeverity.CRITICAL.value
        detail = outcome.get("result") or {}
        indexes = detail.get("unexpected_index_list")
        if not indexes:  # an error, or an expectation of the whole frame: every file of the frame
            for verdict in verdicts.values():
                (verdict.failed if critical else verdict.warnings).append(describe(family, outcome))
            continue
        indexes = [i["row_id"] if isinstance(i, dict) else i for i in indexes]  # GX names a named index
        # The values from the frame: GX caps its unexpected_list, never the index list.
        column = config["kwargs"].get("column")
        values = frame.loc[indexes, column].to_numpy() if column in frame else [None] * len(indexes)
        failing = locations.loc[indexes, ["batch_name", "kafka_offset"]].assign(value=values)
        for name, rows in failing.groupby("batch_name", sort=False):
            verdict = verdicts[name]
            if level_of(config) == BATCH:  # one row per file: its figure
                line = f"{family}: {_rule(config)}: observed {_plain(rows['value'].iloc[0])}"
                (verdict.failed if critical else verdict.warnings).append(line)
                continue
            offsets = [int(o) for o in rows["kafka_offset"]]
            if not critical:
                verdict.warnings.append(
                    f"{family}: {_rule(config)}: {_rows(offsets, rows['value'].tolist())}"
                )
                continue
            for offset in offsets:
                verdict.held.setdefault(offset, []).append(f"{family}: {_rule(config)}")


def _rows(offsets: list[int], values: list[Any]) -> str:
    """`N rows at offsets [...]`, with a few of their values when they say more than True/False."""
    shown = f"{len(offsets)} row{'s' if len(offsets) != 1 else ''} at offsets {offsets[:5]}"
    if values and not isinstance(values[0], bool):
        shown += f", e.g. {[_plain(v) for v in values[:3]]!r}"
    return shown


def _rule(config: dict[str, Any]) -> str:
    """The expectation a held row broke, without counts: `type(column)`."""
    kwargs = config["kwargs"]
    return f"{config['type']}({kwargs.get('column') or 'table'})"
