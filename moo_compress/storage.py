"""The study in Optuna storage: the single source of truth for trials, archive and history.

Per trial: the trial record, Optuna user attributes written and read only by
:mod:`moo_compress.record` (``config``, ``config_key``, ``worker``, ``generation``,
``objectives``, ``result`` and, for failed trials, ``fail_reason``; see there). Per study:
``moo_compress`` (what the study was created from: the fingerprint, the settings behind
it, objectives, driver, space; enough for ``status``, ``pareto`` and ``report`` to work from
the database alone), ``budget`` (the ``n_trials`` the last search or worker ran with) and
one ``hv/<n_complete>`` entry per archive update.

Commands that only read (``status``, ``pareto``, ``report``, ``export``) open the storage
read-only (:func:`open_for_reading`): they never create a file or a table.

This is the only module that touches Optuna's private attributes (a study's storage, a
trial's storage id, the storage's database backend, Optuna's system attributes); the rest
of moo-compress calls the small functions under "Optuna's internals" below.
"""

from __future__ import annotations

import re
import time
import warnings
from typing import Any

from moo_compress import record
from moo_compress.errors import ConfigError, MooCompressError
from moo_compress.record import INTERRUPTED, SKIPPED, TrialRecord  # also re-exported

HV_PREFIX = "hv/"


def redact(url: str) -> str:
    """Hide the passwords of storage URLs in ``url`` (a URL or any message holding some).

    Covers ``user:secret@host`` (also with an empty user, ``://:secret@host``, an ``@`` in
    the user name, or ``@`` and ``/`` in the password) and query or connection-string
    parameters such as ``?password=secret``, ``&passwd=...``, ``sslpassword=...`` or
    ``PassWord=...`` (any case), which become ``***``.
    """
    # user info: SQLAlchemy reads the password up to the first "@"; "@"s that follow before
    # the host's end are hidden too (an unencoded "@" inside the password)
    text = re.sub(r"(://[^:/\s]*):[^@\s]*@(?:[^@\s/?#]*@)*", r"\1:***@", url)
    return re.sub(
        r"(?i)(?<![\w.-])((?:[\w.-]*(?:password|passwd|pwd|secret|token)|pass)\s*=\s*)"
        r"(?:'[^']*'|\"[^\"]*\"|[^&\s#;,'\")]+)",
        r"\1***",
        text,
    )


def storage_url(cfg) -> str:
    return cfg.storage or cfg.default_storage()


def open_storage(url: str, *, heartbeat: dict[str, int] | None = None):
    """The Optuna storage at ``url``.

    Args:
        heartbeat: For several workers: ``{"interval": s, "grace": s, "max_retry": n}``.
            Running trials then record a heartbeat; a trial whose worker stopped beating for
            ``grace`` seconds is marked failed by the next worker that looks and re-queued
            (Optuna's ``RetryHeartbeatStaleTrialCallback``) up to ``max_retry`` times.
    """
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # moo-compress records heartbeats itself around each evaluation (workers.heartbeat)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    try:
        if heartbeat is None:
            return optuna.storages.get_storage(url)
        retry = int(heartbeat["max_retry"])
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            callback = {
                "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=retry
                )
            }
        else:
            callback = {
                "failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=retry)
            }
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=int(heartbeat["interval"]),
            grace_period=int(heartbeat["grace"]),
            **callback,
        )
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
        raise MooCompressError(
            f"cannot open storage {redact(url)}: {type(exc).__name__}: {redact(_first_line(exc))}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


# Causes a retry cannot cure: the database file itself (or its disk) is the problem.
_PERMANENT = {
    "database or disk is full": "free space on its disk",
    "readonly database": "the file or its directory is not writable",
    "disk image is malformed": "the file is damaged; restore a copy",
    "file is not a database": "the file is not a SQLite database",
    "disk i/o error": "the disk failed a read or write",
    "unable to open database file": "the file or its directory cannot be opened",
}


def _root_cause(exc: BaseException) -> BaseException:
    """The database driver's error behind Optuna's and SQLAlchemy's wrappers (Optuna's
    ``StorageInternalError`` says only "e.g. exceeding max length")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        if isinstance(orig, BaseException):
            return orig
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            return current
        current = nxt
    return exc


def is_storage_error(exc: BaseException) -> bool:
    """An error raised by the storage layer (SQLAlchemy or Optuna's storage wrapper)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        from optuna.exceptions import StorageInternalError
    except ImportError:  # pragma: no cover - older Optuna
        StorageInternalError = SQLAlchemyError  # noqa: N806
    return isinstance(exc, (SQLAlchemyError, StorageInternalError))


def describe_storage_error(exc: BaseException, url: str) -> str:
    """One line naming the study database (file or redacted URL) and the real cause."""
    cause = _root_cause(exc)
    text = _first_line(cause) or type(cause).__name__
    path = sqlite_file(url)
    place = str(path) if path is not None else redact(url)
    hint = next((h for k, h in _PERMANENT.items() if k in text.lower()), None)
    return f"study database {place}: {redact(text)}" + (f" ({hint})" if hint else "")


def _is_permanent(exc: BaseException) -> bool:
    text = _first_line(_root_cause(exc)).lower()
    return any(k in text for k in _PERMANENT)


def with_retries(fn, url: str, *, attempts: int = 4, delay: float = 1.0):
    """Call ``fn()``; on a lost database connection retry with backoff (``attempts`` calls in
    all: the first and 3 retries by default), then fail clearly. A cause no retry can cure
    (disk full, read-only or damaged file) fails at once, naming the file and the cause."""
    from sqlalchemy.exc import DBAPIError

    try:
        from optuna.exceptions import StorageInternalError
    except ImportError:  # pragma: no cover - older Optuna
        StorageInternalError = DBAPIError  # noqa: N806

    for attempt in range(attempts):
        try:
            return fn()
        except (DBAPIError, StorageInternalError) as exc:
            if _is_permanent(exc):
                raise MooCompressError(describe_storage_error(exc, url)) from None
            if attempt == attempts - 1:
                cause = _root_cause(exc)
                raise MooCompressError(
                    f"lost the connection to the study database {redact(url)} "
                    f"({attempts} attempts): {type(cause).__name__}: {redact(_first_line(cause))}"
                ) from None
            time.sleep(delay * 2**attempt)
    return None


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


# -- the storage before anything is written ---------------------------------------------
SQLITE_HEADER = b"SQLite format 3\x00"
OPTUNA_TABLES = ("studies", "trials", "version_info")


def _sqlite_database(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).database
    except Exception:  # noqa: BLE001 - a malformed URL is reported where it is opened
        return None


def is_in_memory(url: str) -> bool:
    """``sqlite://`` or ``sqlite:///:memory:``: a study that vanishes with the process."""
    if not is_sqlite(url):
        return False
    database = _sqlite_database(url)
    return not database or ":memory:" in database or "mode=memory" in url


def sqlite_file(url: str):
    """The file of a SQLite storage URL (a ``Path``); None for other databases, in-memory
    SQLite and ``file:`` URIs."""
    from pathlib import Path

    if not is_sqlite(url) or is_in_memory(url):
        return None
    database = _sqlite_database(url)
    if not database or database.startswith("file:"):
        return None
    return Path(database)


def check_keeps_results(url: str) -> None:
    """Refuse a storage that discards the study when the process ends (``search``,
    ``worker``)."""
    if is_in_memory(url):
        raise ConfigError(
            redact(url),
            "",
            "is an in-memory SQLite database: every result would be discarded when the process "
            "ends. Give a file (sqlite:///path/study.db, the default is <study>.db next to the "
            "study file) or a database server (postgresql://...).",
        )


def _sqlite_problem(path) -> str | None:
    """Why the existing file ``path`` is not a readable Optuna database (None if it is).
    Reads only: the file is opened read-only and nothing is created."""
    import sqlite3
    from urllib.parse import quote

    if path.is_dir():
        return "is a directory, not a study database"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if size == 0:
        return "is an empty file (0 bytes), not an Optuna study database"
    if head != SQLITE_HEADER:
        return f"is not a SQLite database (no SQLite header in its {size} bytes), so not an Optuna study database"
    try:
        con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)
        try:
            tables = {
                r[0] for r in con.execute("select name from sqlite_master where type='table'")
            }
            check = con.execute("pragma quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = next((h for k, h in _PERMANENT.items() if k in text.lower()), None)
        return f"is a damaged or unreadable SQLite database ({text}{'; ' + hint if hint else ''})"
    if check != "ok":
        return f"is a damaged SQLite database (integrity check: {check}); restore a copy"
    missing = [t for t in OPTUNA_TABLES if t not in tables]
    if missing:
        return (
            f"is a SQLite database but not an Optuna study database (no {', '.join(missing)} table)"
        )
    return None


def _read_only_url(path) -> str:
    """A SQLAlchemy URL opening the SQLite file ``path`` read-only (a ``file:`` URI)."""
    from urllib.parse import quote

    from sqlalchemy.engine import URL

    database = "file:" + quote(str(path.resolve()))
    url = URL.create("sqlite", database=database, query={"mode": "ro", "uri": "true"})
    return url.render_as_string(hide_password=False)


def _server_tables(url: str) -> list[str]:
    """Table names of a database server's storage (reads only); errors become one line."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # noqa: BLE001 - unknown dialect, missing driver, bad URL
        raise ConfigError(
            redact(url),
            "",
            f"is not a storage URL this installation can open ({type(exc).__name__}: "
            f"{redact(_first_line(exc))}). Use sqlite:///path.db or postgresql://host/db.",
        ) from None
    try:
        return sqlalchemy.inspect(engine).get_table_names()
    except Exception as exc:  # noqa: BLE001 - server down, wrong credentials, no database
        cause = _root_cause(exc)
        raise ConfigError(
            redact(url),
            "",
            f"cannot be reached ({type(cause).__name__}: {redact(_first_line(cause))}).",
        ) from None
    finally:
        engine.dispose()


def open_for_reading(url: str):
    """The existing Optuna storage at ``url``, opened so that nothing can be written.

    A SQLite file must exist and be an Optuna database (it is opened with ``mode=ro``); a
    database server must hold Optuna's tables (they are never created here).

    Raises:
        ConfigError: In-memory SQLite, a missing file, a file that is not an Optuna database
            (empty, foreign, damaged) or a server without Optuna's tables (exit code 2).
    """
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if is_in_memory(url):
        raise ConfigError(
            redact(url),
            "",
            "is an in-memory SQLite database: it holds no study once its process ended. Give the storage the search wrote to.",
        )
    path = sqlite_file(url)
    if path is not None:
        if not path.exists():
            raise ConfigError(
                str(path),
                "",
                f"no such study database (storage {redact(url)}); run `moo-compress search` first, or give --storage the database it wrote.",
            )
        problem = _sqlite_problem(path)
        if problem:
            raise ConfigError(str(path), "", problem + ".")
        target = _read_only_url(path)
    else:
        target = url
        missing = [t for t in OPTUNA_TABLES if t not in _server_tables(url)]
        if missing:
            raise ConfigError(
                redact(url),
                "",
                f"holds no Optuna study (no {', '.join(missing)} table); give --storage the database the search wrote to.",
            )
    try:
        return optuna.storages.RDBStorage(target, skip_table_creation=True)
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
        raise MooCompressError(
            f"cannot open storage {redact(url)}: {describe_storage_error(exc, url)}"
        ) from None


def study_names(storage) -> list[str]:
    import optuna

    return sorted(optuna.study.get_all_study_names(storage=storage))


def load_for_reading(url: str, name: str, *, source: str = "--study", key: str = ""):
    """The moo-compress study ``name`` in ``url``, read-only, and its ``moo_compress``
    record.

    Raises:
        ConfigError: No such study (the message lists the studies there) or a study that
            moo-compress did not create (no ``moo_compress`` study attribute).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_for_reading(url)
    names = study_names(storage)
    if name not in names:
        there = ", ".join(repr(n) for n in names) if names else "no study at all"
        raise ConfigError(
            source,
            key,
            f"no study {name!r} in storage {redact(url)}; it holds {there}.",
        )
    study = optuna.load_study(study_name=name, storage=storage)
    meta = study.user_attrs.get("moo_compress")
    if not isinstance(meta, dict) or "objectives" not in meta:
        raise ConfigError(
            source,
            key,
            f"study {name!r} in storage {redact(url)} was not made by moo-compress (it has no "
            "'moo_compress' study attribute); moo-compress reads only studies it created.",
        )
    return study, meta


def check_storage_for_search(url: str):
    """Check the storage of a ``search`` or ``worker`` before anything is prepared or
    written; return the existing study storage opened read-only, or None when there is
    none yet (a new SQLite file, created later) .

    Raises:
        ConfigError: In-memory SQLite, a SQLite file that is not an Optuna database, a
            missing or read-only folder for a new file, an unknown URL scheme or a database
            server that cannot be reached.
    """
    import os

    check_keeps_results(url)
    path = sqlite_file(url)
    if path is not None:
        if path.is_file() and path.stat().st_size == 0:
            pass  # SQLite's empty database: the study is created in it
        elif path.exists():
            return open_for_reading(url)
        folder = path.parent if str(path.parent) else None
        folder = folder.resolve() if folder is not None else None
        if folder is None or not folder.is_dir():
            raise ConfigError(
                redact(url),
                "",
                f"names a database file in a folder that does not exist ({path.parent}).",
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(
                redact(url),
                "",
                f"names a new database file in a folder this user cannot write ({folder}).",
            )
        return None
    if is_sqlite(url):  # a file: URI
        return None
    tables = _server_tables(url)
    return open_for_reading(url) if all(t in tables for t in OPTUNA_TABLES) else None


# -- what a study was made from ----------------------------------------------------------
# Where each setting behind the fingerprint lives in the study file.
_SETTING_KEYS = {
    "seed": "study.seed",
    "task": "study.task",
    "arch": "model.arch",
    "width": "model.width",
    "corruptions": "corruptions.names",
    "severities": "corruptions.severities",
    "reference": "robustness.reference",
}


def settings(cfg) -> dict[str, Any]:
    """Everything the fingerprint covers, as stored JSON (to say what changed)."""
    import json

    return json.loads(json.dumps(cfg.settings(), sort_keys=True, default=str))


def _diff(old: Any, new: Any, key: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            _diff(old.get(k), new.get(k), f"{key}.{k}" if key else str(k), out)
    elif old != new:
        out.append(key)


def changed_settings(cfg, meta: dict[str, Any]) -> list[str]:
    """Study-file keys whose values differ from those the study was created with (empty
    when the fingerprints agree)."""
    import json

    if meta.get("fingerprint") == cfg.fingerprint():
        return []
    new = settings(cfg)
    old = meta.get("settings")
    if old is None:  # a study made before the settings were stored: what is there
        old = {
            "evaluation": meta.get("evaluation", {}),
            "space": new["space"],
            "objectives": [
                {"name": n, "direction": d, "bounds": list(b)}
                for n, d, b in zip(
                    meta.get("objectives", []),
                    meta.get("directions", []),
                    meta.get("bounds", []),
                    strict=False,
                )
            ],
            "driver": meta.get("driver"),
            "driver_options": new["driver_options"],
        }
        old = json.loads(json.dumps(old, sort_keys=True, default=str))
    out = _diff_evaluation(old.get("evaluation", {}), new["evaluation"])
    if old.get("objectives") != new["objectives"]:
        out.append("objectives")
    if old.get("driver") != new["driver"]:
        out.append("driver.name")
    _diff(old.get("driver_options", {}), new["driver_options"], "driver", out)
    if old.get("space") != new["space"]:
        old_vars = {r["name"]: r for r in old.get("space", [])}
        new_vars = {r["name"]: r for r in new["space"]}
        names = sorted(
            n for n in set(old_vars) | set(new_vars) if old_vars.get(n) != new_vars.get(n)
        )
        out.append(f"search_space ({', '.join(names)})" if names else "search_space")
    return out or ["settings outside the stored record (search space or driver options)"]


def _diff_evaluation(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for k in sorted(set(old) | set(new)):
        _diff(old.get(k), new.get(k), _SETTING_KEYS.get(k, k), found)
    # the loader's keyword arguments are keys of the study file's dataset section
    return [k.replace("dataset.options.", "dataset.", 1) for k in found]


def search_lock(url: str):
    """Hold ``<db>.lock`` (an ``flock``) next to a SQLite study file for a ``search``'s
    lifetime, so a second ``search`` on the same file is refused instead of taking the first
    one's running trial for a crashed one. Other storages: no lock (a context doing nothing).

    Raises:
        ConfigError: Another process holds the lock (exit code 2).
    """
    import contextlib
    import fcntl
    import os

    path = sqlite_file(url)
    if path is None:
        return contextlib.nullcontext()
    lock_path = path.with_name(path.name + ".lock")

    @contextlib.contextmanager
    def held():
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                with contextlib.suppress(OSError):
                    owner = os.read(fd, 64).decode(errors="replace").strip()
                os.close(fd)
                raise ConfigError(
                    redact(url),
                    "",
                    f"is in use by another `moo-compress search` ({'pid ' + owner if owner else 'see ' + str(lock_path)}); "
                    "one search runs a study at a time. To evaluate a study's trials in several "
                    "processes use `moo-compress worker` (Optuna samplers) or `search --n-workers`.",
                ) from None
            # the file may have been removed by its previous holder between open and flock
            try:
                same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield lock_path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
            os.close(fd)

    return held()


def study_exists(url: str, name: str) -> bool:
    import optuna

    if url.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(url[len("sqlite:///") :]).exists():
            return False
    storage = open_storage(url)
    return any(
        s.study_name == name
        for s in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
    )


def create_or_load(cfg, url: str, *, heartbeat: dict[str, int] | None = None):
    """Create the study, or load it and check it was made from the same study file."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    meta = {
        "fingerprint": cfg.fingerprint(),
        "seed": cfg.seed,
        "objectives": [o.name for o in cfg.objectives],
        "directions": cfg.directions,
        "bounds": [list(o.bounds) for o in cfg.objectives],
        "driver": cfg.driver,
        "evaluation": cfg.evaluation_spec(),
        "cache_dir": str(cfg.cache_dir),
        # for reading the study from the database alone (status, pareto, report)
        "settings": settings(cfg),
        "driver_options": cfg.driver_options,
        "space": {
            "searched": [v.name for v in cfg.space.searched],
            "per_layer": list(cfg.space.per_layer),
            "archs": cfg.space.archs(cfg.arch),
        },
    }
    budget = {"n_trials": cfg.n_trials, "max_failures": cfg.max_failures}
    if study_exists(url, cfg.name):
        study = optuna.load_study(
            study_name=cfg.name, storage=open_storage(url, heartbeat=heartbeat)
        )
        stored = study.user_attrs.get("moo_compress")
        for _ in range(50):  # a worker that just created the study may still be writing it
            if stored is not None:
                break
            time.sleep(0.1)
            stored = study.user_attrs.get("moo_compress")
        _check_stored(cfg, stored, "")
        if study.user_attrs.get("budget") != budget:
            study.set_user_attr("budget", budget)
        return study
    try:
        study = optuna.create_study(
            study_name=cfg.name,
            storage=open_storage(url, heartbeat=heartbeat),
            directions=cfg.directions,
            load_if_exists=False,
        )
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return create_or_load(cfg, url, heartbeat=heartbeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(cfg.objective_names)
    study.set_user_attr("moo_compress", meta)
    study.set_user_attr("budget", budget)
    return study


def changed_study_error(cfg, stored: dict[str, Any]) -> ConfigError:
    changed = changed_settings(cfg, stored)
    return ConfigError(
        cfg.source,
        "",
        f"changed since study {cfg.name!r} was created (changed: {', '.join(changed)}); "
        "resuming would mix incompatible trials. Give this study a new study.name or restore "
        "the old settings.",
    )


def check_existing_study(cfg, url: str) -> None:
    """Before anything is prepared: the study of ``cfg``, if it exists in ``url``, was made
    by moo-compress from the same settings and seed. Reads only.

    Raises:
        ConfigError: A bad storage (see :func:`check_storage_for_search`), a foreign study
            of that name, another seed or changed settings (naming the changed keys).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = check_storage_for_search(url)
    if storage is None or cfg.name not in study_names(storage):
        return
    stored = optuna.load_study(study_name=cfg.name, storage=storage).user_attrs.get("moo_compress")
    _check_stored(cfg, stored, f" (no 'moo_compress' study attribute) in {redact(url)}")


def _check_stored(cfg, stored: dict[str, Any] | None, where: str) -> None:
    """The existing study was made by moo-compress, with this seed and these settings."""
    if stored is None:
        raise ConfigError(
            cfg.source,
            "study.name",
            f"names an existing Optuna study that moo-compress did not create{where}. Got {cfg.name!r}.",
        )
    if stored["seed"] != cfg.seed:
        raise ConfigError(
            cfg.source,
            "study.seed",
            f"must match the existing study's seed {stored['seed']} to resume it. Got {cfg.seed} instead.",
        )
    if stored["fingerprint"] != cfg.fingerprint():
        raise changed_study_error(cfg, stored)


def load_existing(cfg, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not study_exists(url, cfg.name):
        raise ConfigError(
            cfg.source,
            "study.name",
            f"no study {cfg.name!r} in storage {redact(url)}; run `moo-compress search {cfg.source}` first.",
        )
    return optuna.load_study(study_name=cfg.name, storage=open_storage(url))


# -- Optuna's internals: the only place moo-compress reaches into them --------------------
# Optuna keeps a trial's storage id, a study's storage (and its database backend) and a
# few system attributes private; every use of them is one of these functions.


def trial_id(trial) -> int:
    """The storage id of an Optuna ``Trial`` or ``FrozenTrial`` (Optuna's private
    ``_trial_id``): unique in the storage, unlike the trial's ``number`` (per study).

    Args:
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    return trial._trial_id


def storage_of(study):
    """The storage object behind ``study`` (Optuna's private ``study._storage``: usually
    Optuna's cache in front of an ``RDBStorage``).

    Args:
        study: An Optuna study.
    """
    return study._storage


def _backend_of(study):
    """The storage under Optuna's cache of ``study`` (the ``RDBStorage``), or the storage
    itself when it has no cache."""
    storage = storage_of(study)
    return getattr(storage, "_backend", storage)


def study_id(study) -> int:
    """The storage id of ``study`` (Optuna's private ``study._study_id``).

    Args:
        study: An Optuna study.
    """
    return study._study_id


def live_trial(study, trial):
    """An Optuna ``Trial`` of ``study`` to write to, for its ``FrozenTrial`` ``trial``.

    Args:
        study: The Optuna study holding ``trial``.
        trial: A ``FrozenTrial`` (e.g. from ``study.get_trials``).
    """
    import optuna

    return optuna.trial.Trial(study, trial_id(trial))


def stored_state(study, trial):
    """The state of ``trial`` as stored now (another process may have finished it since
    this one last looked).

    Args:
        study: The Optuna study holding ``trial``.
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    return storage_of(study).get_trial(trial_id(trial)).state


def heartbeat_interval(study) -> int | None:
    """Seconds between heartbeats of ``study``'s running trials (None: heartbeats off).

    Args:
        study: An Optuna study.
    """
    return getattr(storage_of(study), "get_heartbeat_interval", lambda: None)()


def record_heartbeat(study, trial) -> None:
    """Record a heartbeat of the running ``trial`` now.

    Args:
        study: The Optuna study holding ``trial``; its storage has heartbeats on.
        trial: An Optuna ``Trial`` or ``FrozenTrial``.
    """
    storage_of(study).record_heartbeat(trial_id(trial))


def fail_trial(study, trial, reason: str) -> None:
    """Record ``reason`` and set ``trial`` to ``FAIL`` directly in the storage (no Optuna
    ``Trial`` is made and ``study.tell`` is not called).

    Args:
        study: The Optuna study holding ``trial``.
        trial: The running trial (a ``FrozenTrial``).
        reason: The trial record's failure reason (see :mod:`moo_compress.record`).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: The trial finished meanwhile.
    """
    from optuna.trial import TrialState

    storage = storage_of(study)
    storage.set_trial_user_attr(trial_id(trial), record.FAIL_REASON, reason)
    storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)


def close_connections(study) -> None:
    """Close every pooled database connection of ``study``'s storage, ignoring errors (an
    interrupt that hit a write halfway can leave a connection inside a transaction that
    holds SQLite's lock).

    Args:
        study: An Optuna study.
    """
    import contextlib

    backend = _backend_of(study)
    with contextlib.suppress(Exception):
        backend.scoped_session.remove()
        backend.engine.dispose()


def queued_params(trial) -> dict[str, Any]:
    """The parameters a WAITING ``trial`` was queued with (``study.enqueue_trial``), which
    Optuna keeps in its ``fixed_params`` system attribute ({} when none).

    Args:
        trial: A ``FrozenTrial``.
    """
    return trial.system_attrs.get("fixed_params", {})


def sampler_generation(trial) -> int | None:
    """The generation Optuna's NSGA-II sampler recorded with ``trial`` (its system
    attribute ``<sampler>:generation``), or None.

    Args:
        trial: A ``FrozenTrial``.
    """
    return next((v for k, v in trial.system_attrs.items() if k.endswith(":generation")), None)


# -- trials --------------------------------------------------------------------------------
def records(study, states=None) -> list[TrialRecord]:
    """The trial records of ``study`` (:func:`moo_compress.record.read`), by trial number.

    Args:
        study: An Optuna study.
        states: Only trials in these Optuna states (None: all).
    """
    return [record.read(t) for t in study.get_trials(deepcopy=False, states=states)]


def heartbeat_ages(study) -> dict[int, float | None]:
    """Seconds since each RUNNING trial's last heartbeat (None: it never beat), by trial id,
    measured by the database's clock as Optuna's stale-trial check does."""
    import sqlalchemy
    import sqlalchemy.orm
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    backend = _backend_of(study)
    engine = getattr(backend, "engine", None)
    if engine is None:
        return {}
    with sqlalchemy.orm.Session(engine) as session:
        now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
        running = (
            session.query(models.TrialModel)
            .options(sqlalchemy.orm.selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study_id(study))
            .all()
        )
        return {
            t.trial_id: (now - t.heartbeats[0].heartbeat).total_seconds() if t.heartbeats else None
            for t in running
        }


def mark_interrupted(
    study,
    *,
    sole: bool,
    grace_seconds: float,
    wait_seconds: float = 0.0,
    log=None,
) -> list[dict[str, Any]]:
    """Mark trials left RUNNING by a stopped process as failed (``INTERRUPTED``); return the
    configurations of the study's interrupted trials (now, or by Ctrl-C/SIGTERM before) not
    evaluated since, oldest first, for the driver to run again.

    Args:
        sole: This ``search`` holds the study's lock (:func:`search_lock`, SQLite): a trial
            of a search (no ``worker`` attribute) has no live process, so it is failed at
            once and a killed search resumes at once.
        grace_seconds: Otherwise (database servers, and ``worker`` trials always) a trial
            is stopped only when its heartbeat is older than this (or it never beat and
            started more than twice this long ago); a live worker's trial is left alone.
        wait_seconds: How long to wait for a search trial that still beats to go stale.

    Raises:
        ConfigError: A search trial still beats after ``wait_seconds``: another search
            runs the study.
    """
    import contextlib
    import datetime as dt

    import optuna
    from optuna.trial import TrialState

    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        ages = heartbeat_ages(study)
        now = dt.datetime.now()
        live = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = record.is_worker_trial(t)
            age = ages.get(trial_id(t))
            if age is None:  # never beat: stopped when started over twice the grace ago
                started = t.datetime_start
                age = (now - started).total_seconds() / 2 if started else float("inf")
            if not (sole and not worker) and age <= grace_seconds:
                if not worker:
                    live.append((t.number, age))
                continue
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                record.write_fail_reason(live_trial(study, t), INTERRUPTED)
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if not live:
            break
        number, age = live[0]
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"study {study.study_name!r}",
                "",
                f"trial {number} is running in another process (heartbeat {age:.0f} s ago); "
                "one search runs a study at a time. To evaluate a study's trials in several "
                "processes use `moo-compress worker` (Optuna samplers).",
            )
        if log is not None and not told:
            log(
                f"trial {number} was running {age:.0f} s ago; waiting up to {wait_seconds:.0f} s "
                "for its heartbeat to stop (a stopped search) or go on (another live search)"
            )
            told = True
        time.sleep(1.0)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    # proposals never evaluated
    not_run = (INTERRUPTED, record.DUPLICATE, SKIPPED, record.ABANDONED)
    evaluated = {
        record.config_key(t)
        for t in finished
        if t.state == TrialState.COMPLETE or not record.fail_reason(t).startswith(not_run)
    }
    configs: dict[str, dict[str, Any]] = {}
    for t in finished:
        key = record.config_key(t)
        if record.fail_reason(t) == INTERRUPTED and record.has_config(t):
            if key not in evaluated and key not in configs:
                configs[key] = record.config(t)
    return list(configs.values())


def hv_history(study) -> list[dict[str, Any]]:
    attrs = study.user_attrs
    return [attrs[k] for k in sorted(k for k in attrs if k.startswith(HV_PREFIX))]
