"""Background scraping of an engine's Prometheus `/metrics`, and windowed counter arithmetic.

Cumulative counters divided by wall time lie when the run has idle gaps (seed 001), so the
scraper keeps every sample and `totals()` divides the generated-token increase by the time
requests were actually running. Counter resets are handled like Prometheus `increase()`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Self

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class EngineNames:
    """Where one engine publishes each quantity; the first name present wins (old names last)."""

    engine: str
    generated: tuple[str, ...]
    prompt: tuple[str, ...]
    running: tuple[str, ...]
    waiting: tuple[str, ...] = ()
    prefix_queries: tuple[str, ...] = ()
    prefix_hits: tuple[str, ...] = ()
    prompt_excludes_cached: bool = False   # queries = prompt + hits when no queries counter exists
    spec_draft_tokens: tuple[str, ...] = ()
    spec_accepted: tuple[str, ...] = ()
    generation_seconds: tuple[str, ...] = ()
    kv_usage: tuple[str, ...] = ()

    def wanted(self) -> set[str]:
        """Every sample name this engine entry mentions (the parse filter)."""
        names: set[str] = set()
        for value in asdict(self).values():
            if isinstance(value, tuple):
                names.update(value)
        return names


ENGINE_NAMES: dict[str, EngineNames] = {
    "vllm": EngineNames(
        "vllm", generated=("vllm:generation_tokens_total",), prompt=("vllm:prompt_tokens_total",),
        running=("vllm:num_requests_running",), waiting=("vllm:num_requests_waiting",),
        prefix_queries=("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
        prefix_hits=("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
        spec_draft_tokens=("vllm:spec_decode_num_draft_tokens_total",),
        spec_accepted=("vllm:spec_decode_num_accepted_tokens_total",),
        kv_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
    "llamacpp": EngineNames(
        "llamacpp", generated=("llamacpp:tokens_predicted_total",), prompt=("llamacpp:prompt_tokens_total",),
        running=("llamacpp:requests_processing",), waiting=("llamacpp:requests_deferred",),
        prefix_hits=("llamacpp:prompt_tokens_cache_total",), prompt_excludes_cached=True,
        spec_draft_tokens=("llamacpp:spec_decode_num_draft_tokens_total",),
        spec_accepted=("llamacpp:spec_decode_num_accepted_tokens_total",),
        generation_seconds=("llamacpp:tokens_predicted_seconds_total",)),
    "sglang": EngineNames(
        "sglang", generated=("sglang:generation_tokens_total",), prompt=("sglang:prompt_tokens_total",),
        running=("sglang:num_running_reqs",), waiting=("sglang:num_queue_reqs",),
        prefix_hits=("sglang:cached_tokens_total",), kv_usage=("sglang:token_usage",)),
}


def engine_from_prefix(prefix: str | None) -> str | None:
    """"llamacpp:" → "llamacpp"; None or unknown → None."""
    if not prefix:
        return None
    name = prefix.rstrip(":").replace("_", "").replace(".", "").lower()
    return name if name in ENGINE_NAMES else None


def detect_engine(values: dict[str, float]) -> str | None:
    """Guess the engine from the metric names it publishes."""
    for engine in ENGINE_NAMES:
        if any(k.startswith(f"{engine}:") for k in values):
            return engine
    return None


def parse_exposition(text: str, wanted: set[str] | None = None) -> dict[str, float]:
    """Sample name → value, summed over label sets; histogram buckets and `_created` are skipped.

    With `wanted`, only those sample names are parsed (vLLM's exposition is large; this is the hot path).
    """
    if wanted is not None:
        keep = [ln for ln in text.splitlines()
                if ln and ln[0] != "#" and ln.split("{", 1)[0].split(" ", 1)[0] in wanted]
        text = "\n".join(keep) + "\n"
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
    return out


def counter_increase(v0: float, v1: float) -> float:
    """Increase of a counter between two samples; a drop means the counter reset (process restart)."""
    return v1 - v0 if v1 >= v0 else v1


@dataclass
class Scrape:
    """One successful scrape: client clock (ns, midpoint of the GET) and the values it read."""

    t_ns: int
    values: dict[str, float]


@dataclass
class WindowTotals:
    """Counter increases and timing over a run of scrapes; the input of the server metrics."""

    generated_tokens: float | None = None
    prompt_tokens: float | None = None
    wall_ns: int | None = None
    busy_ns: int | None = None
    busy_source: str | None = None          # "running" (gauge) or "counter" (no gauge: Δtokens > 0)
    prefix_hits: float | None = None
    prefix_queries: float | None = None
    spec_accepted: float | None = None
    spec_draft_tokens: float | None = None
    generation_seconds: float | None = None
    max_running: float | None = None
    windows: int = 0
    scrapes: int = 0
    scrape_errors: int = 0
    series: list[dict] = field(default_factory=list)


def _pick(values: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in values:
            return values[name]
    return None


def _increase(scrapes: list[Scrape], names: tuple[str, ...]) -> float | None:
    points = [_pick(s.values, names) for s in scrapes]
    if not names or any(p is None for p in points) or len(points) < 2:
        return None
    return sum(counter_increase(a, b) for a, b in itertools.pairwise(points))


def totals(scrapes: list[Scrape], names: EngineNames, scrape_errors: int = 0) -> WindowTotals:
    """Counter increases, wall span and busy time over consecutive scrapes (see ServerInFlightRate)."""
    out = WindowTotals(scrapes=len(scrapes), scrape_errors=scrape_errors)
    if len(scrapes) < 2:
        return out
    out.windows = len(scrapes) - 1
    out.wall_ns = scrapes[-1].t_ns - scrapes[0].t_ns
    out.generated_tokens = _increase(scrapes, names.generated)
    out.prompt_tokens = _increase(scrapes, names.prompt)
    out.prefix_hits = _increase(scrapes, names.prefix_hits)
    out.prefix_queries = _increase(scrapes, names.prefix_queries)
    if out.prefix_queries is None and out.prefix_hits is not None and out.prompt_tokens is not None:
        out.prefix_queries = out.prompt_tokens + (out.prefix_hits if names.prompt_excludes_cached else 0)
    out.spec_accepted = _increase(scrapes, names.spec_accepted)
    out.spec_draft_tokens = _increase(scrapes, names.spec_draft_tokens)
    out.generation_seconds = _increase(scrapes, names.generation_seconds)
    running = [_pick(s.values, names.running) for s in scrapes]
    gen = [_pick(s.values, names.generated) for s in scrapes]
    have_gauge = all(r is not None for r in running)
    out.max_running = max(running) if have_gauge else None
    out.busy_source = "running" if have_gauge else "counter"
    busy = 0.0
    for i in range(1, len(scrapes)):
        dt = scrapes[i].t_ns - scrapes[i - 1].t_ns
        d_gen = counter_increase(gen[i - 1], gen[i]) if gen[i] is not None and gen[i - 1] is not None else 0.0
        if have_gauge:
            share = ((running[i - 1] > 0) + (running[i] > 0)) / 2
            if share == 0 and d_gen > 0:
                share = 0.5  # a request started and finished between two scrapes
        else:
            share = 1.0 if d_gen > 0 else 0.0
        busy += dt * share
        out.series.append({"t_ns": scrapes[i].t_ns, "dt_ns": dt, "d_generated": d_gen,
                           "running": running[i], "busy_share": share})
    out.busy_ns = int(busy)
    return out


class Scraper:
    """Scrape a Prometheus endpoint every `interval_s`, beside the timed streams.

    With a real URL and the real clock the scraping runs in its own process (`isolate`), so its
    HTTP and parsing never compete with the timed streams for the interpreter; `mark()` asks it
    for a scrape now. `fetch` replaces the HTTP GET (tests pass canned exposition text) and keeps
    the scraping on a thread, as does a fake clock.
    """

    def __init__(self, url: str | None, *, engine: str | None = None, metrics_prefix: str | None = None,
                 interval_s: float = 0.5, clock: Callable[[], int] = time.perf_counter_ns,
                 fetch: Callable[[], str] | None = None, timeout_s: float = 2.0,
                 isolate: bool | None = None) -> None:
        self.url = url
        self.engine = engine or engine_from_prefix(metrics_prefix)
        self.interval_s = interval_s
        self.clock = clock
        self.timeout_s = timeout_s
        self._fetch = fetch
        self._http = None
        self.scrapes: list[Scrape] = []
        self.errors = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.isolate = (url is not None and fetch is None and clock is time.perf_counter_ns) if isolate is None \
            else isolate
        self._child = None
        self._conn = None

    @property
    def names(self) -> EngineNames | None:
        """The metric names of the detected or given engine."""
        return ENGINE_NAMES.get(self.engine) if self.engine else None

    def _get(self) -> str:
        if self._fetch is not None:
            return self._fetch()
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout_s)
        resp = self._http.get(self.url)
        resp.raise_for_status()
        return resp.text

    def scrape_once(self) -> Scrape | None:
        """One scrape now; failures are counted, not raised. Safe to call beside the thread."""
        with self._lock:
            return self._scrape_locked()

    def mark(self) -> int:
        """Scrape now and return its timestamp: a window edge for `totals(t0_ns, t1_ns)`."""
        if self.url is None and self._fetch is None:
            return self.clock()
        if self._conn is not None:
            self._conn.send("mark")
            return self._conn.recv()
        scrape = self.scrape_once()
        return scrape.t_ns if scrape is not None else self.clock()

    def _scrape_locked(self) -> Scrape | None:
        t0 = self.clock()
        try:
            text = self._get()
            t1 = self.clock()
            names = self.names
            values = parse_exposition(text, names.wanted() if names else None)
            if names is None:
                self.engine = detect_engine(values)
                if self.names:
                    values = {k: v for k, v in values.items() if k in self.names.wanted()}
        except Exception as exc:  # noqa: BLE001 - a failed scrape is data: counted, never fatal
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        scrape = Scrape(t_ns=(t0 + t1) // 2, values=values)
        self.scrapes.append(scrape)
        return scrape

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scrape_once()

    def start(self) -> Self:
        """Scrape once now (the window's left edge), then keep scraping in the background."""
        if self.url is None and self._fetch is None:
            return self
        if self.isolate:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            self._conn, child_end = ctx.Pipe()
            names = self.names
            self._child = ctx.Process(target=scrape_in_child, name="lanekit-scrape", daemon=True,
                                      args=(self.url, self.interval_s, self.timeout_s,
                                            names.wanted() if names else None, child_end))
            self._child.start()
            child_end.close()
            self._conn.recv()  # the left edge is scraped
            return self
        self.scrape_once()
        self._thread = threading.Thread(target=self._loop, name="lanekit-scrape", daemon=True)
        self._thread.start()
        return self

    def _stop_child(self) -> None:
        try:
            self._conn.send("stop")
            raw, errors, last_error = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:  # the child died: keep what it can't send
            raw, errors, last_error = [], self.errors + 1, f"scraper process: {type(exc).__name__}"
        self._child.join(timeout=self.timeout_s + 5)
        if self._child.is_alive():
            self._child.kill()
        self._conn.close()
        self._child = self._conn = None
        self.errors, self.last_error = errors, last_error
        for t_ns, values in raw:
            if self.names is None:
                self.engine = detect_engine(values)
            names = self.names
            self.scrapes.append(Scrape(t_ns=t_ns, values={k: v for k, v in values.items()
                                                          if names is None or k in names.wanted()}))

    def stop(self) -> list[Scrape]:
        """Stop scraping and scrape once more (the window's right edge)."""
        if self._child is not None:
            self._stop_child()
            return self.scrapes
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=self.timeout_s + self.interval_s + 1)
            self._thread = None
            self.scrape_once()
        if self._http is not None:
            self._http.close()
            self._http = None
        return self.scrapes

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def totals(self, t0_ns: int | None = None, t1_ns: int | None = None) -> WindowTotals:
        """Totals over the scrapes between t0_ns and t1_ns (all when omitted)."""
        names = self.names
        chosen = [s for s in self.scrapes if (t0_ns is None or s.t_ns >= t0_ns) and (t1_ns is None or s.t_ns <= t1_ns)]
        if names is None:
            return WindowTotals(scrapes=len(chosen), scrape_errors=self.errors)
        return totals(chosen, names, self.errors)

    def summary(self, t0_ns: int | None = None, t1_ns: int | None = None) -> dict | None:
        """Server-side figures for a summary (None when nothing was scraped)."""
        if self.url is None and self._fetch is None:
            return None
        from lanekit.load.metrics import server_metrics

        tot = self.totals(t0_ns, t1_ns)
        out: dict = {"engine": self.engine, "scrapes": tot.scrapes, "scrape_errors": tot.scrape_errors,
                     "last_error": self.last_error, "generated_tokens": tot.generated_tokens,
                     "wall_s": tot.wall_ns / 1e9 if tot.wall_ns else None,
                     "busy_s": tot.busy_ns / 1e9 if tot.busy_ns is not None else None,
                     "busy_source": tot.busy_source, "max_running": tot.max_running}
        out.update(server_metrics(tot))
        return out


def scrape_in_child(url: str, interval_s: float, timeout_s: float, wanted: set[str] | None, conn) -> None:
    """The isolated scraper: scrape every `interval_s`; answer "mark" with a scrape's time; on "stop"
    scrape once more and send back (scrapes, errors, last error). Its clock is the parent's:
    perf_counter_ns is the system's monotonic clock."""
    import httpx

    scrapes: list[tuple[int, dict[str, float]]] = []
    state = {"errors": 0, "last": None}
    with httpx.Client(timeout=timeout_s) as http:
        def once() -> int | None:
            t0 = time.perf_counter_ns()
            try:
                resp = http.get(url)
                resp.raise_for_status()
                t1 = time.perf_counter_ns()
                values = parse_exposition(resp.text, wanted)
            except Exception as exc:  # noqa: BLE001 - a failed scrape is data: counted, never fatal
                state["errors"] += 1
                state["last"] = f"{type(exc).__name__}: {exc}"
                return None
            scrapes.append(((t0 + t1) // 2, values))
            return scrapes[-1][0]

        once()
        conn.send("started")
        while True:
            if conn.poll(interval_s):
                try:
                    command = conn.recv()
                except EOFError:
                    return
                if command == "mark":
                    t = once()
                    conn.send(t if t is not None else time.perf_counter_ns())
                elif command == "stop":
                    once()
                    conn.send((scrapes, state["errors"], state["last"]))
                    return
            else:
                once()
