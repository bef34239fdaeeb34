"""The run's state on a Locust environment: one `RunState` at `environment.mtls`.

Everything locust-mtls keeps for an environment lives here (validated options, the
MtlsRun with its rows, the echo server, worker reports, the timeline, thresholds, the
audit), created on first use, so Locust used as a library (an `Environment` without
parsed options, no init event) gets the plugin's defaults like a `locust` run does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from locust_mtls.config.options import default_options
from locust_mtls.config.user_settings import UserSettings, user_settings
from locust_mtls.config.validation import run_options_from
from locust_mtls.engine.run import MtlsRun
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.engine.timeline import Timeline
from locust_mtls.locust.checked_event import checked_request_event
from locust_mtls.locust.distributed import WorkerReports


@dataclass(eq=False)
class RunState:
    """One environment's locust-mtls state."""

    options: object  # Locust's parsed options, or our defaults for a library use
    started_at: float = field(default_factory=time.time)
    finished: bool = False
    run: MtlsRun | None = None
    run_options: RunOptions | None = None
    run_options_key: tuple = ()
    timeline: Timeline = field(default_factory=Timeline)
    worker_reports: WorkerReports | None = None  # master only
    target_chosen: bool = False  # --host, the classes' hosts or the embedded echo server
    echo_server: object = None  # server.process handle of the embedded echo server
    echo_server_ca: str = ""  # its CA, for the end-of-run query whatever the form says
    thresholds: list = field(default_factory=list)
    threshold_aborted: set = field(default_factory=set)
    threshold_verdicts: list | None = None
    audit: object = None  # audit_plugin.Audit under `locust-mtls audit`
    settings_of_class: dict = field(default_factory=dict)
    # Distributed runs (cluster.py): the worker's own options as it was started (its
    # files), the slice of the identities it loads (index, parts) when partitioned; on
    # the master, whether the run is partitioned and what the workers proved.
    own_options: object = None
    partition: tuple[int, int] | None = None
    partitioned: bool = False
    identity_set: dict | None = None
    proven_workers: set = field(default_factory=set)
    partition_changes: list = field(default_factory=list)

    def totals(self) -> MtlsStats:
        """The run's counters: this process's, plus every worker's on a master."""
        local = self.run.stats if self.run is not None else None
        if self.worker_reports is None:
            return local if local is not None else MtlsStats()
        total = self.worker_reports.total(local)
        total.identity_set = self.identity_set
        return total

    def sample_timeline(self) -> None:
        """Sample the run's totals into the timeline; on a master, per worker (each
        latest report and when it came), so each worker's rate is over its own reports."""
        reports, sources = self.worker_reports, None
        if reports is not None:
            sources = {w: (reports.received_at[w], data) for w, data in reports.by_worker.items()}
            if self.run is not None and self.run.stats.rows:  # the master's own users, if any
                sources[""] = (time.time(), self.run.stats.to_dict())
        self.timeline.sample(self.totals(), reports=sources)

    def validated(self, options=None, **checks) -> RunOptions:
        """The validated options of `options` (default: the run's), loaded once.

        Identities are loaded and the target probed once per distinct set of options: at
        init, or when the web UI's form checks new ones; a test start reuses them, so none
        of that happens inside the run's clock (10,000 identities take seconds).
        """
        options = options or self.options
        key = (*options_key(options), self.partition)
        if self.run_options is None or self.run_options_key != key:
            self.run_options = run_options_from(options, part=self.partition, **checks)
            self.run_options_key = key
        return self.run_options

    def mtls_run(self) -> MtlsRun:
        """The run (built at first use, fresh counters at each test start)."""
        if self.run is None:
            self.run = MtlsRun(self.validated())
        return self.run

    def settings_for(self, user_class: type, client: str) -> UserSettings:
        """A user class's settings, built once per run (not per spawned user)."""
        key = (user_class, client)
        built = self.settings_of_class.get(key)
        if built is None:
            built = self.settings_of_class[key] = user_settings(self.options, user_class, client)
        return built


def options_key(options) -> tuple:
    values = vars(options)
    return tuple(sorted((k, str(v)) for k, v in values.items() if k.startswith("mtls_"))) + (
        str(values.get("host")),
    )


def state_of(environment) -> RunState:
    """`environment.mtls`, created on first use; every request of the environment then
    passes the one checked request event (checked_event.py)."""
    state = getattr(environment, "mtls", None)
    if state is None:
        options = getattr(environment, "parsed_options", None)
        if options is None or not hasattr(options, "mtls_strategy"):
            options = default_options(host=getattr(environment, "host", None))
        state = environment.mtls = RunState(options)
        checked_request_event(environment)
    return state
