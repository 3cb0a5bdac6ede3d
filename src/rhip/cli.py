"""Command line: ``rhip serve | demo | synth | import | client create | user create | mpi train|dedupe``.

Every command exits non-zero with a one-line reason on failure. Flags mirror ``RHIP_`` variables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rhip.settings import Settings

DEMO_USERS = [
    # username, password, role, organization, region ("@hospital": the demo's busiest hospital)
    ("admin", "Admin@2026", "administrator", None, None),
    ("doctor", "Doctor@2026", "clinician", "@hospital", None),
    ("resident", "Resident@2026", "resident", None, None),
    ("cdc", "Cdc@2026", "public-health-officer", None, "330500"),
    ("auditor", "Auditor@2026", "auditor", None, None),
    ("integrator", "Integrator@2026", "integrator", "@hospital", None),
]


def _demo_links(repo: Any) -> tuple[str, str]:
    """The demo's busiest hospital (most encounters) and one of its patients, for the demo users."""
    from collections import Counter

    from rhip.fhir.search.parse import parse_query
    from rhip.security.context import RequestContext

    with repo.unit(RequestContext.system("demo users"), write=False) as unit:
        found = unit.search(parse_query("Encounter", [("_count", "1000")]))
        providers: Counter[str] = Counter()
        subjects: dict[str, str] = {}
        for row in found.matches:
            enc = json.loads(row.content)
            org = (enc.get("serviceProvider") or {}).get("reference", "")
            subject = (enc.get("subject") or {}).get("reference", "")
            if org.startswith("Organization/") and subject.startswith("Patient/"):
                providers[org[13:]] += 1
                subjects.setdefault(org[13:], subject[8:])
    if not providers:
        raise CliError("the demo region has no encounters to attach the demo users to")
    hospital = providers.most_common(1)[0][0]
    return hospital, subjects[hospital]


class CliError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for key in ("db", "host", "port", "data_dir", "base_url"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return Settings(**overrides)


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from rhip.security.fields import configure_from
    from rhip.store.db import make_engine, migrate

    configure_from(settings.field_keys, settings.data_dir, settings.index_key)
    engine = make_engine(settings.database_url())
    try:
        migrate(engine)
    except Exception as exc:  # connection refused, bad URL, permissions
        raise CliError(f"cannot open database {settings.database_url()}: {str(exc).splitlines()[0]}") from None
    return engine


def _warm_up() -> None:
    """Load the validator tables, profiles and bundled terminology before serving, then freeze them.

    First requests then pay no loading, and ``gc.freeze()`` moves the ~10⁶ long-lived objects out of
    the collector's reach, so full collections no longer scan them (p99 latency spikes).
    """
    import gc

    from rhip.fhir.validation import validate_resource
    from rhip.profiles import profiles
    from rhip.terminology.expansion import preload

    validate_resource({"resourceType": "Patient"})
    profiles()
    preload()
    gc.collect()
    gc.freeze()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rhip.app import create_app

    settings = _settings(args)
    if getattr(args, "mllp_port", None):
        raise CliError("the HL7 v2 MLLP listener is not available yet (exchange adapters issue)")
    _engine(settings).dispose()
    app = create_app(settings)
    _warm_up()
    print(f"rhip FHIR API on http://{settings.host}:{settings.port}/  (OpenAPI: /docs, public: /metadata)", flush=True)
    # No per-request access log by default: it does not say who accessed what (the audit trail of the
    # security issue does), and formatting a line per request costs a fifth of a terminology call.
    # When on, query values are masked (identifier=, name=… would put personal data in plain files).
    access_log = bool(getattr(args, "access_log", False))
    if access_log:
        from rhip.api import access_log as masked_access_log

        masked_access_log.install()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=access_log)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from rhip.security.context import RequestContext
    from rhip.store.bulk import files_of, load, ndjson_lines
    from rhip.store.repository import Repository

    settings = _settings(args)
    target = Path(args.path)
    if not target.exists():
        raise CliError(f"no such file or directory: {target}")
    engine = _engine(settings)
    try:
        t0 = time.perf_counter()
        report = load(
            Repository(engine, settings),
            ndjson_lines(files_of(target)),
            RequestContext.system("bulk import"),
            defer_indexes=args.deferred_indexes,
        )
        secs = time.perf_counter() - t0
    finally:
        engine.dispose()
    out = {
        "loaded": report.loaded,
        "updated": report.updated,
        "rejected": report.rejected,
        "seconds": round(secs, 2),
        "resources_per_second": round((report.loaded + report.updated) / secs, 1) if secs else None,
        "deferred_indexes": report.deferred_indexes,
        "index_build_and_analyze_seconds": round(report.index_seconds, 2),
        "first_errors": report.errors[:20],
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if report.rejected == 0 else 2


def cmd_client_create(args: argparse.Namespace) -> int:
    from rhip.security.accounts import create_client

    pem = None
    if args.public_key is not None:
        try:
            pem = Path(args.public_key).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {args.public_key}: {exc}") from None
    engine = _engine(_settings(args))
    try:
        creds = create_client(engine, name=args.name, scopes=args.scopes, organization=args.org, public_key=pem)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(json.dumps({"client_id": creds.id, **({"client_secret": creds.secret} if creds.secret else {})}))
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    import getpass
    import os

    from rhip.security.accounts import create_user

    password = args.password or os.environ.get("RHIP_PASSWORD") or getpass.getpass("password: ")
    if len(password) < 8:
        raise CliError("password must have at least 8 characters")
    engine = _engine(_settings(args))
    try:
        create_user(
            engine,
            username=args.username,
            password=password,
            role=args.role,
            organization=args.org,
            region=args.region,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(json.dumps({"username": args.username, "role": args.role}))
    return 0


def cmd_source_set(args: argparse.Namespace) -> int:
    from rhip.store.sources import set_source

    engine = _engine(_settings(args))
    try:
        set_source(engine, args.source, args.strictness, args.name)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(json.dumps({"source": args.source, "strictness": args.strictness}))
    return 0


def cmd_source_list(args: argparse.Namespace) -> int:
    from rhip.store.sources import list_sources

    settings = _settings(args)
    engine = _engine(settings)
    try:
        rows = list_sources(engine)
    finally:
        engine.dispose()
    out = {"default": settings.validation_default, "sources": [{"source": s, "strictness": v} for s, v in rows]}
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_deid_export(args: argparse.Namespace) -> int:
    """De-identified research export (decision 0014): NDJSON per type plus report.json."""
    import os

    from rhip.security.deid import export
    from rhip.store.repository import Repository

    raw = os.environ.get("RHIP_DEID_KEY", "") if args.key_file is None else ""
    if args.key_file is not None:
        try:
            raw = Path(args.key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"cannot read the key file: {exc}") from None
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = raw.encode()
    if len(key) < 16:
        raise CliError("a key of at least 16 bytes is needed (--key-file with hex or text, or RHIP_DEID_KEY)")
    settings = _settings(args)
    engine = _engine(settings)
    try:
        report = export(
            Repository(engine, settings),
            Path(args.out),
            key=key,
            k=args.k,
            max_suppression=args.max_suppression,
            max_shift_days=args.shift_days,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    return 0 if report.feasible else 2


def _key_file_ring(settings: Settings) -> tuple[Path, Any]:
    from rhip.security.crypto import load_field_keys

    if settings.field_keys:
        raise CliError(
            "field keys come from RHIP_FIELD_KEYS: put the new key first there, restart, then run `rhip keys reseal`"
        )
    return settings.data_dir / "field.keys", load_field_keys("", settings.data_dir)


def _reseal(settings: Settings) -> dict[str, Any]:
    from rhip.mpi.sealing import reseal_index
    from rhip.store.reseal import reseal

    engine = _engine(settings)
    try:
        report = reseal(engine, settings, also=reseal_index)
    finally:
        engine.dispose()
    counts = {"scanned": report.scanned, "resealed": report.resealed, "reindexed": report.reindexed}
    return {**counts, **(report.extra or {})}


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """New active SM4 field key in the key file (old keys kept for reading), then re-seal everything."""
    import secrets

    from rhip.security.crypto import KeyRing

    settings = _settings(args)
    path, ring = _key_file_ring(settings)
    n = 1 + max((int(k[1:]) for k in ring.keys if k[1:].isdigit()), default=0)
    new_id = f"k{n}"
    rotated = KeyRing({new_id: secrets.token_bytes(16), **ring.keys}, new_id)
    path.write_text(rotated.to_text())
    path.chmod(0o600)
    print(json.dumps({"active": new_id, "keys": list(rotated.keys), **_reseal(settings)}))
    return 0


def cmd_keys_reseal(args: argparse.Namespace) -> int:
    """Re-seal stored ID numbers and phones under the active key (after a rotation, or plaintext data)."""
    print(json.dumps(_reseal(_settings(args))))
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    """Remove a key from the key file, refusing while any stored value still uses it."""
    from rhip.mpi.sealing import index_keys_in_use
    from rhip.security.crypto import KeyRing
    from rhip.store.reseal import keys_in_use

    settings = _settings(args)
    path, ring = _key_file_ring(settings)
    if args.key_id not in ring.keys:
        raise CliError(f"no key '{args.key_id}' in {path}")
    if args.key_id == ring.active:
        raise CliError(f"'{args.key_id}' is the active key: rotate first")
    engine = _engine(settings)
    try:
        used = keys_in_use(engine) | index_keys_in_use(engine)
    finally:
        engine.dispose()
    if args.key_id in used:
        raise CliError(f"key '{args.key_id}' still seals stored values: run `rhip keys reseal` first")
    kept = KeyRing({k: v for k, v in ring.keys.items() if k != args.key_id}, ring.active)
    path.write_text(kept.to_text())
    print(json.dumps({"retired": args.key_id, "keys": list(kept.keys)}))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from rhip.security.audit import load_key
    from rhip.store.audit_log import verify

    settings = _settings(args)
    engine = _engine(settings)
    anchor = None
    if args.anchor is not None:
        try:
            data = json.loads(Path(args.anchor).read_text(encoding="utf-8"))
            anchor = (int(data["seq"]), str(data["hash"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read anchor {args.anchor}: {exc}") from None
    try:
        report = verify(engine, load_key(settings.audit_key, settings.data_dir), anchor=anchor)
    finally:
        engine.dispose()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    return 0 if report.ok else 3


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from rhip.security.audit import load_key
    from rhip.store.audit_log import head

    settings = _settings(args)
    engine = _engine(settings)
    try:
        seq, digest = head(engine, load_key(settings.audit_key, settings.data_dir))
    finally:
        engine.dispose()
    print(json.dumps({"seq": seq, "hash": digest}))
    return 0


def cmd_audit_break_glass(args: argparse.Namespace) -> int:
    """Break-glass grants for the auditor, one JSON line each (decision 0018); the run is audited."""
    from rhip.security.break_glass import parse_since, report
    from rhip.security.context import RequestContext
    from rhip.store.repository import Repository

    settings = _settings(args)
    since_ms = None
    if args.since is not None:
        try:
            since_ms = parse_since(args.since, settings.tz())
        except ValueError:
            raise CliError(f"--since must be an ISO date or date-time, not {args.since!r}") from None
    engine = _engine(settings)
    try:
        ctx = RequestContext.system("audit break-glass report")
        lines = report(Repository(engine, settings), ctx, since_ms=since_ms)
    finally:
        engine.dispose()
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    return 0


def cmd_user_totp(args: argparse.Namespace) -> int:
    """Enrol a user in TOTP: prints the otpauth:// URI once (scan it into an authenticator app)."""
    from rhip.security.accounts import enrol_totp
    from rhip.security.crypto import load_field_keys

    settings = _settings(args)
    engine = _engine(settings)
    try:
        uri = enrol_totp(engine, args.username, load_field_keys(settings.field_keys, settings.data_dir))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(json.dumps({"username": args.username, "otpauth": uri}))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    try:
        from rhip import synth
    except ImportError:
        raise CliError("the synthetic region generator is not available in this build") from None
    return int(synth.run(args))


def prepare_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Generate and load the demo region and users once (a marker file makes later runs reuse it)."""
    from rhip.security.accounts import create_user, link_patient
    from rhip.security.context import RequestContext
    from rhip.store.bulk import files_of, load, ndjson_lines
    from rhip.store.repository import Repository

    data_dir = Path(args.data_dir)
    args.db = args.db or f"sqlite:///{(data_dir / 'rhip.sqlite').resolve()}"
    args.data_dir = data_dir
    settings = _settings(args)
    engine = _engine(settings)
    marker = data_dir / "demo-loaded.json"
    try:
        if not marker.exists():
            region = data_dir / "region"
            t0 = time.perf_counter()
            from rhip import synth

            counts = synth.generate(
                seed=args.seed, residents=args.residents, years=args.years, out=region, formats=("fhir-ndjson",)
            )
            print(f"generated demo region ({args.residents} residents) in {time.perf_counter() - t0:.1f}s", flush=True)
            report = load(
                Repository(engine, settings),
                ndjson_lines(files_of(region / "fhir")),
                RequestContext.system("demo load"),
            )
            if report.rejected:
                raise CliError(f"{report.rejected} demo resources were rejected, first: {report.errors[0]}")
            hospital, patient = _demo_links(Repository(engine, settings))
            for u, p, role, org, region_code in DEMO_USERS:
                org_id = hospital if org == "@hospital" else org
                create_user(engine, username=u, password=p, role=role, organization=org_id, region=region_code)
            link_patient(engine, "resident", patient)
            marker.write_text(
                json.dumps({"counts": counts, "loaded": report.loaded, "hospital": hospital, "patient": patient})
            )
            print(f"loaded {report.loaded} resources in {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        engine.dispose()
    loaded: dict[str, Any] = json.loads(marker.read_text())
    return loaded


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a demo region under --data-dir, load it, create demo users, then serve."""
    loaded = prepare_demo(args)
    print("Demo users (POST /auth/token, grant_type=password):")
    for u, p, role, org, _ in DEMO_USERS:
        where = f"Organization/{loaded.get('hospital')}" if org == "@hospital" else ""
        if role == "resident":
            where = f"Patient/{loaded.get('patient')}"
        print(f"  {u:<11} {p:<16} {role:<22} {where}")
    return cmd_serve(args)


def cmd_mpi_train(args: argparse.Namespace) -> int:
    """Fit the matching model on the stored Patients (EM) and store it as the newest version."""
    from rhip import platform
    from rhip.mpi.jobs import train_stored
    from rhip.mpi.online import Matcher

    engine = _engine(_settings(args))
    t0 = time.perf_counter()
    try:
        model = train_stored(engine, Matcher(trusted_sources=platform.trusted_sources()), u_pairs=args.u_pairs)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    out = {"version": model.version, "prior": model.prior, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps({**out, "records": model.trained.get("records")}, ensure_ascii=False))
    return 0


def cmd_mpi_dedupe(args: argparse.Namespace) -> int:
    """Re-link the whole database as online matching would (resumable; --restart starts over)."""
    from dataclasses import asdict

    from rhip import platform
    from rhip.mpi.jobs import dedupe
    from rhip.mpi.online import Matcher

    engine = _engine(_settings(args))
    try:
        report = dedupe(
            engine,
            Matcher(trusted_sources=platform.trusted_sources()),
            restart=args.restart,
            chunk=args.chunk,
            progress=lambda n: (
                print(f"{n} registrations", file=sys.stderr, flush=True) if n % 10000 < args.chunk else None
            ),
        )
    finally:
        engine.dispose()
    print(json.dumps(asdict(report), ensure_ascii=False))
    return 0


def _add_mpi_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("mpi", help="master person index (居民主索引): train the model, re-link the database")
    msub = p.add_subparsers(dest="action", required=True)
    m = msub.add_parser("train", help="fit the matching model (EM) on the stored Patients; stores a new version")
    _db_flag(m)
    m.add_argument("--u-pairs", dest="u_pairs", type=int, default=200_000, help="random pairs for u")
    m.set_defaults(func=cmd_mpi_train)
    m = msub.add_parser("dedupe", help="re-link every Patient exactly as online matching does (resumable)")
    _db_flag(m)
    m.add_argument("--restart", action="store_true", help="discard an interrupted run's progress and start over")
    m.add_argument("--chunk", type=int, default=5000, help="registrations per transaction (and per resumable step)")
    m.set_defaults(func=cmd_mpi_dedupe)


def _db_flag(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--db", required=required, help="SQLAlchemy URL (sqlite:///file or postgresql+psycopg://...); env RHIP_DB"
    )
    p.add_argument("--data-dir", dest="data_dir", type=Path, default=None, help="data directory (env RHIP_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rhip", description="rhip regional health information platform (区域全民健康信息平台)"
    )
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the FHIR API")
    _db_flag(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--base-url", dest="base_url")
    p.add_argument("--mllp-port", type=int, help="HL7 v2 MLLP listener (not yet available)")
    p.add_argument(
        "--access-log", action="store_true", help="log every HTTP request (uvicorn access log; query values masked)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="load a synthetic demo region into SQLite and serve it")
    p.add_argument("--data-dir", dest="data_dir", default="data/demo")
    p.add_argument("--db")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--base-url", dest="base_url")
    p.add_argument("--residents", type=int, default=2000)
    p.add_argument("--years", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("synth", help="generate a synthetic region")
    try:
        from rhip import synth

        synth.add_arguments(p)
    except ImportError:
        pass
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("import", help="bulk-load NDJSON files (COPY on PostgreSQL)")
    p.add_argument("path", help="an .ndjson file or a directory of them")
    p.add_argument(
        "--deferred-indexes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build the search indexes after loading (default: only when the database holds no resources)",
    )
    _db_flag(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("client", help="OAuth2 clients")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser("create", help="register a client; prints {client_id, client_secret}")
    _db_flag(c)
    c.add_argument("--name", required=True)
    c.add_argument("--scopes", default="system/*.*")
    c.add_argument("--org")
    c.add_argument(
        "--public-key",
        dest="public_key",
        help="PEM public key (EC P-256/P-384 or RSA): the client signs JWT assertions instead of using a secret",
    )
    c.set_defaults(func=cmd_client_create)

    p = sub.add_parser("user", help="platform users")
    usub = p.add_subparsers(dest="action", required=True)
    u = usub.add_parser("create", help="create or reset a user (password from --password, RHIP_PASSWORD or prompt)")
    _db_flag(u)
    u.add_argument("--username", required=True)
    u.add_argument("--role", required=True)
    u.add_argument("--password")
    u.add_argument("--org")
    u.add_argument("--region")
    u.set_defaults(func=cmd_user_create)
    t = usub.add_parser("totp", help="enrol a user in the TOTP second factor; prints the otpauth:// URI once")
    _db_flag(t)
    t.add_argument("--username", required=True)
    t.set_defaults(func=cmd_user_totp)

    p = sub.add_parser("deid", help="de-identified export for research (医学资源信息服务)")
    dsub = p.add_subparsers(dest="action", required=True)
    d = dsub.add_parser("export", help="pseudonymise, shift dates, generalise to k-anonymity; NDJSON + report.json")
    _db_flag(d)
    d.add_argument("--out", required=True, type=Path, help="output directory (must not hold an export yet)")
    d.add_argument("--key-file", dest="key_file", type=Path, help="pseudonym key (hex or text, ≥ 16 bytes)")
    d.add_argument("--k", type=int, default=5, help="k-anonymity of the released Patients (default 5)")
    d.add_argument("--max-suppression", dest="max_suppression", type=float, default=0.05)
    d.add_argument("--shift-days", dest="shift_days", type=int, default=180, help="dates move by up to ± days")
    d.set_defaults(func=cmd_deid_export)

    p = sub.add_parser("audit", help="the audit trail (WS/T 790.4)")
    asub = p.add_subparsers(dest="action", required=True)
    a = asub.add_parser("verify", help="check the SM3 hash chain; exit 3 when an entry was removed or altered")
    _db_flag(a)
    a.add_argument("--anchor", type=Path, help="a file written earlier by 'rhip audit anchor' (kept off the host)")
    a.set_defaults(func=cmd_audit_verify)
    a = asub.add_parser("anchor", help="print the chain head {seq, hash}; keep copies off the host (truncation)")
    _db_flag(a)
    a.set_defaults(func=cmd_audit_anchor)
    a = asub.add_parser("break-glass", help="list break-glass grants as JSON lines (who, patient, reason, expiry)")
    _db_flag(a)
    a.add_argument("--since", help="only grants from this ISO date or date-time on (local time without an offset)")
    a.set_defaults(func=cmd_audit_break_glass)

    p = sub.add_parser("keys", help="SM4 field keys sealing ID numbers and phones (decision 0019)")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("rotate", help="add a new active key to the key file and re-seal all stored values")
    _db_flag(k)
    k.set_defaults(func=cmd_keys_rotate)
    k = ksub.add_parser("reseal", help="re-seal stored values under the active key (idempotent)")
    _db_flag(k)
    k.set_defaults(func=cmd_keys_reseal)
    k = ksub.add_parser("retire", help="remove an old key from the key file once nothing uses it")
    k.add_argument("key_id")
    _db_flag(k)
    k.set_defaults(func=cmd_keys_retire)

    p = sub.add_parser("source", help="data sources: China-profile strictness per feed (decision 0012)")
    ssub = p.add_subparsers(dest="action", required=True)
    s = ssub.add_parser("set", help="set a source's strictness: reject (422), warn (keep findings) or off")
    _db_flag(s)
    s.add_argument("source", help="OAuth client id of the feed (user:<name> / system:<job> for others)")
    s.add_argument("strictness", choices=("reject", "warn", "off"))
    s.add_argument("--name", help="human-readable name of the feed")
    s.set_defaults(func=cmd_source_set)
    s = ssub.add_parser("list", help="list sources with their own strictness, and the default")
    _db_flag(s)
    s.set_defaults(func=cmd_source_list)
    _add_mpi_commands(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"rhip: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
