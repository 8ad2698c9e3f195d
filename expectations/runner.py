"""Run the suites on one landed batch, keeping results and Data Docs under CONTINUUM_HOME.

The context, its data source, assets and validation definitions are set up once per process
(`ValidationProject.for_settings` is cached), so a batch costs well under a second. Each run stores
its result in the context's validation results store (CONTINUUM_HOME/gx/validations), from which
`build_data_docs` renders GX Data Docs into `settings.data_docs_dir`; the runner also returns the
results as one JSON document that the pipeline keeps beside the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
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
from common.settings import Settings
from expectations.families import BATCH_SUITE, FAMILIES, batch_frame, family_frame
from expectations.suites import batch_parameters, build_suite, family_parameters, suite_name

DATA_SOURCE = "landed_batches"
BATCH_DEFINITION = "whole_batch"
DOCS_SITE = "continuum"


@dataclass
class Verdict:
    """What the suites said about one batch. `failed` lists the critical expectations that failed."""

    success: bool
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


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
        self.definitions = {name: self._definition(source, name) for name in (BATCH_SUITE, *FAMILIES)}

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
        )
        return result.to_json_dict()

    def validate(
        self,
        events: pd.DataFrame,
        topic: str,
        partition: int,
        first_offset: int,
        last_offset: int,
        run_name: str | None = None,
    ) -> Verdict:
        """Run the batch suite on every row and each family suite on the rows of its family."""
        run_name = run_name or f"{topic}+{partition}+{first_offset}+{last_offset}"
        frame = batch_frame(events)
        params = batch_parameters(frame, topic, partition, first_offset, last_offset, self.directory_ids)
        results = {BATCH_SUITE: self._run(BATCH_SUITE, frame, params, run_name)}
        for family in FAMILIES:
            rows = family_frame(events, family)
            if len(rows):
                params = family_parameters(rows, family, self.directory_ids, self.custody_ids)
                results[family] = self._run(family, rows, params, run_name)
        return summarise(results)

    def build_data_docs(self, run_names: Iterable[str] | None = None) -> Path:
        """Render Data Docs: the pages of the results of `run_names` (None: of every result) and the
        index. Rendering only a run's own results keeps the step's time flat as results pile up."""
        if run_names is None:
            self.context.build_data_docs(site_names=[DOCS_SITE])
        else:
            wanted = set(run_names)
            keys = [
                k for k in self.context.validation_results_store.list_keys() if k.run_id.run_name in wanted
            ]
            if keys:  # an empty list would mean "everything" to GX
                self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=keys)
        return self.settings.data_docs_dir / "index.html"


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
    """One line per failed expectation: `suite: type(column) unexpected N of M`."""
    config = outcome["expectation_config"]
    kwargs = config["kwargs"]
    target = kwargs.get("column") or ",".join(kwargs.get("column_list", [])) or "table"
    result = outcome.get("result") or {}
    detail = ""
    if "unexpected_count" in result:
        detail = f": {result['unexpected_count']} of {result.get('element_count')} rows"
        sample = result.get("partial_unexpected_list") or []
        if sample:
            detail += f", e.g. {sample[:3]!r}"
    elif "observed_value" in result:
        observed = result["observed_value"]
        detail = f": observed {float(observed) if isinstance(observed, Real) else observed!r}"
    if outcome.get("exception_info", {}).get("raised_exception"):
        detail = f": error {outcome['exception_info']['exception_message']}"
    return f"{family}: {config['type']}({target}){detail}"


def summarise(results: dict[str, dict[str, Any]]) -> Verdict:
    failed, warnings = [], []
    for family, validation in results.items():
        for outcome in validation["results"]:
            if outcome["success"]:
                continue
            severity = outcome["expectation_config"].get("severity", FailureSeverity.CRITICAL.value)
            (warnings if severity != FailureSeverity.CRITICAL.value else failed).append(
                describe(family, outcome)
            )
    return Verdict(success=not failed, failed=failed, warnings=warnings, results=results)
