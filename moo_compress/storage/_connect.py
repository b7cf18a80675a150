"""Storage URLs and connections: the default URL, redaction, opening (read-only for
commands that only read), retries with one-line errors, and the lock one ``search`` holds
on a SQLite study."""

from __future__ import annotations

import re
import time
import warnings

from moo_compress._utils.attrs import get_json, has_json, put_json
from moo_compress.errors import ConfigError, MooCompressError

HV_PREFIX = "hv/"


def redact(url: str) -> str:
    """Hide the passwords of storage URLs in ``url`` (a URL or any message holding some).

    Covers ``user:secret@host`` (also with an empty user, ``://:secret@host``, an ``@`` in
    the user name, or ``@`` and ``/`` in the password) and query or connection-string
    parameters such as ``?password=secret``, ``&passwd=...``, ``sslpassword=...`` or
    ``PassWord=...`` (any case), which become ``***``.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
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
    """The storage URL of a study: ``--storage``, the study file's ``storage``, or the
    SQLite file next to the study file.

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
    """
    return cfg.storage or cfg.default_storage()


def open_storage(url: str, *, heartbeat: dict[str, int] | None = None):
    """The Optuna storage at ``url``.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
        heartbeat: For several workers: ``{"interval": s, "grace": s, "max_retry": n}``.
            Running trials then record a heartbeat; a trial whose worker stopped beating for
            ``grace`` seconds is marked failed by the next worker that looks and re-queued
            (Optuna's ``RetryHeartbeatStaleTrialCallback``) up to ``max_retry`` times.
    """
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # moo-compress records heartbeats itself around each evaluation (workers.heartbeat)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    attempt = 0
    while True:
        try:
            return _open(url, heartbeat)
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
            attempt += 1
            # another process creating the same new database's tables at this moment (two
            # workers, or a reader, starting together): its schema is there once it is done
            racing = any(s in str(exc) for s in ("alembic_version", "already exists"))
            if racing and attempt < SCHEMA_ATTEMPTS:
                time.sleep(0.5 * attempt)
                continue
            raise MooCompressError(
                f"cannot open storage {redact(url)}: {type(exc).__name__}: "
                f"{redact(_first_line(exc))}"
            ) from None


#: Attempts at opening a storage whose tables another process is creating at that moment.
SCHEMA_ATTEMPTS = 4


def _open(url: str, heartbeat: dict[str, int] | None):
    """The storage itself (:func:`open_storage` without its error handling)."""
    import optuna

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
    """An error raised by the storage layer (SQLAlchemy or Optuna's storage wrapper).

    Args:
        exc: The exception.
    """
    from sqlalchemy.exc import SQLAlchemyError

    try:
        from optuna.exceptions import StorageInternalError
    except ImportError:  # pragma: no cover - older Optuna
        StorageInternalError = SQLAlchemyError  # noqa: N806
    return isinstance(exc, (SQLAlchemyError, StorageInternalError))


def describe_storage_error(exc: BaseException, url: str) -> str:
    """One line naming the study database (file or redacted URL) and the real cause.

    Args:
        exc: The exception.
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
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
    (disk full, read-only or damaged file) fails at once, naming the file and the cause.

    Args:
        fn: The storage call, without arguments.
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
        attempts: Calls in all (default 4: the first and 3 retries).
        delay: Seconds before the first retry, doubled each time (default 1).
    """
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
    """Whether ``url`` is a SQLite storage.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
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
    """``sqlite://`` or ``sqlite:///:memory:``: a study that vanishes with the process.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
    if not is_sqlite(url):
        return False
    database = _sqlite_database(url)
    return not database or ":memory:" in database or "mode=memory" in url


def sqlite_file(url: str):
    """The file of a SQLite storage URL (a ``Path``); None for other databases, in-memory
    SQLite and ``file:`` URIs.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
    from pathlib import Path

    if not is_sqlite(url) or is_in_memory(url):
        return None
    database = _sqlite_database(url)
    if not database or database.startswith("file:"):
        return None
    return Path(database)


def check_keeps_results(url: str) -> None:
    """Refuse a storage that discards the study when the process ends (``search``,
    ``worker``).

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
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

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).

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
    """Names of the studies in ``storage``.

    Args:
        storage: An opened Optuna storage.
    """
    import optuna

    return sorted(optuna.study.get_all_study_names(storage=storage))


def load_for_reading(url: str, name: str, *, source: str = "--study", key: str = ""):
    """The moo-compress study ``name`` in ``url``, read-only, and its ``moo_compress``
    record.

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
        name: The study name.
        source: What named the study, for messages (default ``--study``).
        key: The key path inside ``source``, for messages (default none).

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
    meta = study_meta(study.user_attrs)
    if not isinstance(meta, dict) or "objectives" not in meta:
        raise ConfigError(
            source,
            key,
            f"study {name!r} in storage {redact(url)} was not made by moo-compress (it has no "
            "'moo_compress' study attribute); moo-compress reads only studies it created.",
        )
    return study, meta


#: Parts of the ``moo_compress`` study record stored under their own (split) attributes,
#: ``moo_compress.<part>``, to keep every attribute under 1,024 characters.
META_PARTS = ("evaluation", "settings")


def write_study_meta(study, meta: dict) -> None:
    """Store the study's ``moo_compress`` record: its long parts first (each split if
    needed), the record itself last (a reader that sees it sees every part).

    Args:
        study: The Optuna study.
        meta: The whole record.
    """

    short = dict(meta)
    for part in META_PARTS:
        if part in short:
            put_json(study.set_user_attr, f"moo_compress.{part}", short.pop(part))
    study.set_user_attr("moo_compress", short)


def study_meta(attrs) -> dict | None:
    """The study's whole ``moo_compress`` record (None: the study has none), from its
    user attributes, whether its long parts are stored apart or inside (older studies).

    Args:
        attrs: The study's user attributes.
    """

    meta = attrs.get("moo_compress")
    if not isinstance(meta, dict):
        return meta
    meta = dict(meta)
    for part in META_PARTS:
        if part not in meta and has_json(attrs, f"moo_compress.{part}"):
            meta[part] = get_json(attrs, f"moo_compress.{part}")
    return meta


def check_storage_for_search(url: str):
    """Check the storage of a ``search`` or ``worker`` before anything is prepared or
    written; return the existing study storage opened read-only, or None when there is
    none yet (a new SQLite file, created later) .

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).

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


def search_lock(url: str):
    """Hold ``<db>.lock`` (an ``flock``) next to a SQLite study file for a ``search``'s
    lifetime, so a second ``search`` on the same file is refused instead of taking the first
    one's running trial for a crashed one. Other storages: no lock (a context doing nothing).

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).

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


__all__ = [
    "HV_PREFIX",
    "OPTUNA_TABLES",
    "SQLITE_HEADER",
    "check_keeps_results",
    "check_storage_for_search",
    "describe_storage_error",
    "is_in_memory",
    "is_sqlite",
    "is_storage_error",
    "load_for_reading",
    "open_for_reading",
    "open_storage",
    "redact",
    "search_lock",
    "sqlite_file",
    "storage_url",
    "study_names",
    "with_retries",
]
