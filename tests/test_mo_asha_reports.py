"""``pareto --all`` and ``status`` of a multi-fidelity (mo-asha) study show its rungs
(issue 15): every lower-rung evaluation with its rung and whether it was promoted, and how
many configurations finished each rung. The study is searched by replaying a table (no
training) into a SQLite file the CLI reads with ``--storage`` and ``--study``."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil

import optuna
import pytest
from optuna.trial import TrialState

from moo_compress import record
from moo_compress import storage as st
from moo_compress.cli import main
from moo_compress.config import load_study_config
from moo_compress.drivers import DRIVERS
from moo_compress.search import SearchSession
from tests.conftest import write_study
from tests.test_search_constraints import _table

RECORD = "record: [accuracy, cr, mce, proxy_purity]\n"
CONSTRAINT = "constraints:\n  accuracy: {max_drop: 3.0}\n"
# rung 0 measures accuracy and cr, rung 1 adds proxy_purity, the top rung (2) adds mce
LADDER = (
    ", eta: 2, sampler: random,"
    " rungs: [{objectives: [accuracy, cr]}, {objectives: [accuracy, cr, proxy_purity]}]"
)
N_TRIALS = 4
TOP = 2
KNOWN = {
    0: {"accuracy", "cr"},
    1: {"accuracy", "cr", "proxy_purity"},
    2: {"accuracy", "cr", "proxy_purity", "mce"},
}
OBJECTIVES = ("accuracy", "cr", "mce", "proxy_purity")


def _search(folder, driver: str = "mo-asha", driver_extra: str = LADDER):
    """Search a study of ``driver`` on the table into ``folder/study.db``; its URL."""
    path = write_study(folder, driver=driver, n_trials=N_TRIALS, extra=RECORD + CONSTRAINT)
    if driver == "mo-asha":
        text = path.read_text().replace(
            "driver: {name: mo-asha}", "driver: {name: mo-asha" + driver_extra + "}"
        )
        path.write_text(text)
    url = f"sqlite:///{folder / 'study.db'}"
    cfg = dataclasses.replace(load_study_config(path), cache_dir=folder / "cache", storage=url)
    study = st.create_or_load(cfg, url, heartbeat=cfg.workers.heartbeat())
    session = SearchSession(cfg, study, _table(cfg.space), show_progress=False)
    DRIVERS.get(cfg.driver)(cfg).run(session, interrupted=[])
    session.record_hypervolume(generation=session.last_generation)
    st.close_connections(study)
    return url


@pytest.fixture(scope="module")
def asha(tmp_path_factory):
    return _search(tmp_path_factory.mktemp("asha"))


@pytest.fixture
def run(capsys):
    def _run(*args: str) -> str:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    return _run


def _trials(url: str) -> list:
    study = optuna.load_study(study_name="tiny", storage=url)
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def _expected_status(trials) -> dict[int, tuple[str, int | None]]:
    """(status, promoted_to) of every listed trial, from the stored ``promoted_from``."""
    nxt = {}
    for t in trials:
        info = record.rung(t)
        if info and info["promoted_from"] is not None and t.state != TrialState.FAIL:
            nxt[info["promoted_from"]] = t
    out = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            out[t.number] = ("complete", None)
        elif t.state == TrialState.PRUNED:
            n = nxt.get(t.number)
            if n is None:
                out[t.number] = ("stopped", None)
            else:
                out[t.number] = (
                    "promoting" if n.state == TrialState.RUNNING else "promoted",
                    n.number,
                )
    return out


def test_pareto_all_lists_every_rung_with_whether_it_was_promoted(asha, run):
    trials = _trials(asha)
    listed = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    expected = _expected_status(trials)
    rows = list(
        csv.DictReader(
            io.StringIO(
                run("pareto", "--all", "--format", "csv", "--storage", asha, "--study", "tiny")
            )
        )
    )
    assert [int(r["trial"]) for r in rows] == [t.number for t in listed]
    header = list(rows[0])
    assert header[:5] == ["trial", "rung", "status", "promoted_to", "arch"]
    assert header[-2:] == ["feasible", "violation"]
    for row, t in zip(rows, listed, strict=True):
        info = record.rung(t)
        assert row["rung"] == f"{info['rung']}/{info['top']}"
        status, promoted_to = expected[t.number]
        assert row["status"] == status
        assert row["promoted_to"] == ("" if promoted_to is None else str(promoted_to))
        # the values known at the trial's rung, and empty cells for the others
        stored = record.objectives(t)
        assert set(stored) == KNOWN[info["rung"]]
        for name in OBJECTIVES:
            if name in stored:
                assert float(row[name]) == pytest.approx(stored[name])
            else:
                assert row[name] == ""
        assert row["feasible"] == str(record.is_feasible(t))
        assert float(row["violation"]) == pytest.approx(record.violation(t))
    statuses = [r["status"] for r in rows]
    assert statuses.count("complete") == N_TRIALS
    assert "promoted" in statuses and "stopped" in statuses
    assert {r["rung"] for r in rows} == {"0/2", "1/2", "2/2"}
    # every promotion points to the same configuration's next rung
    by_number = {t.number: t for t in trials}
    for r in rows:
        if r["promoted_to"]:
            up = by_number[int(r["promoted_to"])]
            assert record.rung(up)["rung"] == record.rung(by_number[int(r["trial"])])["rung"] + 1
            assert record.config_key(up) == record.config_key(by_number[int(r["trial"])])


def test_pareto_all_json_has_the_same_columns_and_null_for_values_not_measured(asha, run):
    text = run("pareto", "--all", "--format", "json", "--storage", asha, "--study", "tiny")
    assert "NaN" not in text
    rows = json.loads(text)
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                run("pareto", "--all", "--format", "csv", "--storage", asha, "--study", "tiny")
            )
        )
    )
    assert [list(r) for r in rows] == [list(r) for r in csv_rows]
    expected = _expected_status(_trials(asha))
    for row in rows:
        assert (row["status"], row["promoted_to"]) == expected[row["trial"]]
        rung = int(row["rung"].split("/")[0])
        for name in OBJECTIVES:
            assert (row[name] is not None) == (name in KNOWN[rung]), (row["trial"], name)


def test_pareto_all_table_shows_the_rungs_and_shares_count_complete_trials(asha, run):
    out = run("pareto", "--all", "--storage", asha, "--study", "tiny")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["trial", "rung", "status", "promoted_to", "arch"]
    expected = _expected_status(_trials(asha))
    table = {int(line.split()[0]): line.split() for line in lines[1 : 1 + len(expected)]}
    assert set(table) == set(expected)
    for number, (status, promoted_to) in expected.items():
        cells = table[number]
        assert cells[2] == status
        if promoted_to is not None:
            assert cells[3] == str(promoted_to)
        else:
            assert cells[3] == "small_cnn"  # an empty cell, not None
    assert "nan" not in out.lower() and "None" not in out
    assert f"share of the completed trials ({N_TRIALS} models)" in out
    assert f"({len(expected) - N_TRIALS} lower-rung evaluations listed" in out
    # the archive alone: complete trials only, no rung columns
    archive = run("pareto", "--storage", asha, "--study", "tiny", "--format", "csv")
    header = archive.splitlines()[0].split(",")
    assert "rung" not in header and "status" not in header


def _rung_counts(trials) -> dict[int, dict[str, int]]:
    counts = {r: {"done": 0, "running": 0, "failed": 0} for r in range(TOP + 1)}
    for t in trials:
        info = record.rung(t)
        if info is None:
            continue
        if t.state in (TrialState.PRUNED, TrialState.COMPLETE):
            counts[info["rung"]]["done"] += 1
        elif t.state == TrialState.RUNNING:
            counts[info["rung"]]["running"] += 1
    return counts


def test_status_counts_the_configurations_that_finished_each_rung(asha, run):
    trials = _trials(asha)
    counts = _rung_counts(trials)
    assert counts[TOP]["done"] == N_TRIALS
    assert counts[0]["done"] > counts[1]["done"] > counts[2]["done"]
    out = run("status", "--storage", asha, "--study", "tiny")
    line = next(line for line in out.splitlines() if line.startswith("rungs"))
    assert line == (
        f"rungs       0: {counts[0]['done']} done, 1: {counts[1]['done']} done, "
        f"2 (full): {N_TRIALS} complete"
    )
    lower = sum(record.evaluation_seconds(t) for t in trials if record.rung(t)["rung"] < TOP)
    upper = sum(record.evaluation_seconds(t) for t in trials if record.rung(t)["rung"] == TOP)
    assert lower > 0
    assert (
        f"            {lower:.0f} s of it on the lower rungs, {upper:.0f} s on the top rung" in out
    )
    lines = out.splitlines()
    assert lines.index(line) == 3  # after the trial counts, before the time line
    assert lines[4].startswith("time        ")


def test_running_and_failed_promotions_show_in_status_and_pareto(asha, run, tmp_path):
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    shutil.copy(st.sqlite_file(asha), tmp_path / "copy.db")
    trials = _trials(url)
    stopped = [
        t
        for t in trials
        if t.state == TrialState.PRUNED and _expected_status(trials)[t.number][0] == "stopped"
    ]
    assert len(stopped) >= 2
    study = optuna.load_study(study_name="tiny", storage=url)

    def promote(below):
        trial = study.ask()
        record.write_rung(trial, record.rung(below)["rung"] + 1, TOP, below.number)
        record.write_config(trial, record.config(below), record.config_key(below))
        return trial

    running = promote(stopped[0])
    failed = promote(stopped[1])
    record.write_fail_reason(failed, "RuntimeError: out of memory")
    study.tell(failed, state=TrialState.FAIL)
    duplicate = promote(stopped[1])  # a claim that lost: never evaluated, not counted
    record.write_fail_reason(duplicate, f"{record.DUPLICATE} of trial {failed.number}")
    study.tell(duplicate, state=TrialState.FAIL)
    st.close_connections(study)

    rows = {
        int(r["trial"]): r
        for r in csv.DictReader(
            io.StringIO(
                run("pareto", "--all", "--format", "csv", "--storage", url, "--study", "tiny")
            )
        )
    }
    assert (rows[stopped[0].number]["status"], rows[stopped[0].number]["promoted_to"]) == (
        "promoting",
        str(running.number),
    )
    assert (rows[stopped[1].number]["status"], rows[stopped[1].number]["promoted_to"]) == (
        "promotion failed",
        str(failed.number),
    )
    assert running.number not in rows and failed.number not in rows  # not finished

    counts = _rung_counts(_trials(asha))
    up0, up1 = (record.rung(t)["rung"] + 1 for t in stopped[:2])
    counts[up0]["running"] += 1
    counts[up1]["failed"] += 1
    out = run("status", "--storage", url, "--study", "tiny")
    parts = []
    for r in range(TOP + 1):
        c = counts[r]
        text = f"{r} (full): {c['done']} complete" if r == TOP else f"{r}: {c['done']} done"
        text += f" + {c['running']} running" if c["running"] else ""
        text += f" + {c['failed']} failed" if c["failed"] else ""
        parts.append(text)
    assert "rungs       " + ", ".join(parts) in out.splitlines()


def test_other_drivers_show_no_rungs(tmp_path, run):
    url = _search(tmp_path, driver="optuna-random")
    out = run("pareto", "--all", "--format", "csv", "--storage", url, "--study", "tiny")
    header = out.splitlines()[0].split(",")
    assert header[:2] == ["trial", "arch"] and "rung" not in header and "status" not in header
    assert len(out.splitlines()) == 1 + N_TRIALS
    assert "lower-rung" not in run("pareto", "--all", "--storage", url, "--study", "tiny")
    assert not any(
        line.startswith("rungs") or "lower rungs" in line
        for line in run("status", "--storage", url, "--study", "tiny").splitlines()
    )
