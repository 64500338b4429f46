"""The read side: the model's runs as the replay contract's documents, for any thread (the HTTP server, `run`'s view
and report, the Python API), with the store behind it for runs the model no longer holds."""

from __future__ import annotations

from exporter.contract import live_dict, run_dict, to_json
from exporter.ids import trace_id
from exporter.model import Run
from exporter.pipeline import Pipeline

__all__ = ["Documents"]


class Documents:
    """Documents of `pipeline`'s runs, read under its lock. Given `now`, with the live fields (ETA, trace id)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        # The JSON of settled runs the model holds (`as_json`), by id: each entry holds its run, whose id no other
        # run can take while it does, and goes once the model no longer holds the run.
        self._settled_json: dict[int, tuple[Run, str]] = {}

    @property
    def lines_read(self) -> int:
        return self._pipeline.lines_read

    @property
    def lines_unparsed(self) -> int:
        return self._pipeline.lines_unparsed

    def all(self, now: float | None = None, run_id: str | None = None) -> list[dict]:
        """Every run the model holds (or the one named)."""
        with self._pipeline.lock:
            books = self._pipeline.books()
            runs = [run for book in books for run in book.runs if run_id in (None, run.run_id)]
            return [self._document(run, now) for run in runs]

    def as_json(self, now: float) -> list[str]:
        """`all(now)`, each as the JSON text `to_json` gives (/api/runs, polled by every open page). A settled run's
        text is made once and kept while the model holds the run: no line to come changes it (`Book.settled`), and
        an ended run has no ETA. The others' documents are encoded outside the lock."""
        texts: list[str] = []
        fresh: list[tuple[int, Run, bool, dict]] = []  # (place in texts, run, settled, its document) to encode
        with self._pipeline.lock:
            kept, self._settled_json = self._settled_json, {}
            for book in self._pipeline.books():
                for run in book.runs:
                    entry = kept.get(id(run))
                    if entry is not None and entry[0] is run:
                        self._settled_json[id(run)] = entry
                        texts.append(entry[1])
                    else:
                        fresh.append((len(texts), run, book.settled(run), self._document(run, now)))
                        texts.append("")
        for place, run, settled, document in fresh:
            texts[place] = to_json(document)
            if settled:
                self._settled_json[id(run)] = (run, texts[place])
        return texts

    def one(self, run_id: str, now: float) -> dict | None:
        """One run: from the model, else from the store (a finished run past retention, which is ended: no ETA)."""
        found = self.all(now, run_id)
        store = self._pipeline.store
        if found or store is None:
            return next(iter(found), None)
        stored = store.document(run_id)
        if stored is None:
            return None
        return {**stored, "eta_s": None, "trace_id": f"{trace_id(stored['source'], run_id):032x}"}

    def every(self) -> list[dict]:
        """Every run read, in file order, those past retention from the store (`run`'s report and exit code)."""
        store = self._pipeline.store
        with self._pipeline.lock:
            books = self._pipeline.books()
            held = {run.run_id: run_dict(run) for book in books for run in book.runs}
        out = []
        for book in books:
            for n in range(1, book.numbered + 1):
                run_id = book.run_id(n)
                document = held.get(run_id) or (store.document(run_id) if store is not None else None)
                if document is not None:
                    out.append(document)
        return out

    def _document(self, run: Run, now: float | None) -> dict:
        store = self._pipeline.store
        if now is None or store is None:
            return run_dict(run)
        return live_dict(run, now, store.usual_durations(run.pipeline or ""))
