"""`evcc pki init <dir>`: generate the test PKI of PKI.md §2 (ISO 15118-2 and -20 suites) for tests and benches;
`evcc pki sign-csr CSR --pki DIR --role oem-provisioning|vehicle --out CHAIN`: issue a certificate from a request
(evcc.pki.sign_csr). Exit status 0, or 2 with a one-line error."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from evcc.errors import EvccError
from evcc.hsm.files import atomic_write
from evcc.pki.generator import write_pki
from evcc.pki.sign_csr import PROFILES, load_csr, sign_csr
from evcc.pki.profiles import Suite


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `pki` command with its `init` sub-command."""
    pki = sub.add_parser("pki", help="test PKI (never for production)")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="generate the test PKI into a directory")
    init.add_argument("dir", type=Path, help="output directory (created if missing)")
    init.add_argument("--suite", action="append", choices=[s.value for s in Suite],
                      help="suite to generate (repeatable; default: all)")
    init.add_argument("--now", type=datetime.fromisoformat, default=None,
                      help="generation time as ISO 8601 with offset (default: the current time)")
    init.set_defaults(func=_init)
    sign = pki_sub.add_parser("sign-csr", help="issue an OEM provisioning or vehicle certificate from a CSR")
    sign.add_argument("csr", type=Path, help="the PKCS#10 request (PEM or DER)")
    sign.add_argument("--pki", type=Path, required=True, help="the test PKI folder (evcc pki init)")
    sign.add_argument("--role", required=True, choices=sorted(PROFILES), help="the certificate profile")
    sign.add_argument("--suite", choices=[s.value for s in Suite], default=None,
                      help="the issuing suite (default: the one of the request's key)")
    sign.add_argument("--out", type=Path, required=True, help="write the leaf and its Sub-CAs here (PEM)")
    sign.add_argument("--now", type=datetime.fromisoformat, default=None,
                      help="issuing time as ISO 8601 with offset (default: the current time)")
    sign.set_defaults(func=_sign)


def _init(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        print("evcc pki init: --now needs a UTC offset, e.g. 2030-01-01T00:00:00+00:00")
        return 2
    suites = tuple(Suite(s) for s in args.suite) if args.suite else tuple(Suite)
    args.dir.mkdir(parents=True, exist_ok=True)
    write_pki(args.dir, suites, now)
    print(f"test PKI ({', '.join(s.value for s in suites)}) written to {args.dir}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(timezone.utc)
    try:
        if now.tzinfo is None:
            raise ValueError("--now needs a UTC offset, e.g. 2030-01-01T00:00:00+00:00")
        try:
            data = args.csr.read_bytes()
        except OSError as exc:
            raise ValueError(f"{args.csr}: {exc.strerror or exc}") from None
        suite = Suite(args.suite) if args.suite else None
        chain = sign_csr(args.pki, load_csr(data, str(args.csr)), args.role, now, suite)
        if not args.out.parent.resolve().is_dir():
            raise ValueError(f"--out {args.out}: folder {args.out.parent} does not exist")
        atomic_write(args.out, b"".join(c.public_bytes(Encoding.PEM) for c in chain), mode=0o644)
    except (EvccError, ValueError) as exc:
        print(f"evcc pki sign-csr: {exc}", file=sys.stderr)
        return 2
    print(f"{args.role} certificate {chain[0].subject.rfc4514_string()!r} issued by "
          f"{chain[1].subject.rfc4514_string()!r} written to {args.out} with its Sub-CAs")
    return 0
