"""Plug & Charge on the bench (ISO 15118-2 §8.4.3, test PKI only): the EV's contract side and the SECC's.

EV side: the contract store in the run's temporary folder and the key store that holds the OEM provisioning
key and the contract keys (:class:`BenchKeyStore`, ``evcc bench --key-store``): a SoftHSM2 token when SoftHSM2
is installed (a private SOFTHSM2_CONF, see :mod:`evcc.hsm.softhsm`; the default), else the software key store
(bench only) with a random key-encryption key; or a TPM 2.0 (:mod:`evcc.hsm.tpm_store`): the process's private
swtpm (:func:`private_tpm_tcti`) or an existing TPM by its TCTI string (``--tcti``). The OEM
provisioning key is generated inside that store and certified by the run's OEM Sub-CA 2, as a production line
would. Without a contract the first session does CertificateInstallation through the SECC's test provisioning
service; ``install_before`` installs one ahead of the session instead (same service, no V2G messages).

SECC side: a fresh :class:`~evcc.bench.secc.iso2_pnc.SeccPncSim` per session over one provisioning service.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.contracts.install_common import InstallContext
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.contracts.store import Contract, ContractStore
from evcc.errors import EvccError, PlatformError
from evcc.hsm.hostcrypto import CURVES
from evcc.hsm.keystore import KeyAlgorithm, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore
from evcc.hsm.soft_store import SoftKeyStore, SoftKeyStoreConfig
from evcc.hsm.softhsm import init_softhsm, softhsm_available
from evcc.pki.generator import TestPki, issue_certificate
from evcc.pki.profiles import Profile, profile_table
from evcc.session.iso2.pnc import KeyStoreContracts

BENCH_EMAID = "DE8AA0012345670"  # the contract the test provisioning service issues (valid check character)
KEY_STORES = ("softhsm", "tpm", "soft")


@dataclass(frozen=True)
class BenchKeyStore:
    """Which key store a bench run uses: ``softhsm`` (falls back to ``soft`` when SoftHSM2 is missing), ``tpm``
    (``tcti`` None: the process's private swtpm) or ``soft``."""

    kind: str = "softhsm"
    tcti: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KEY_STORES:
            raise ValueError(f"key store {self.kind!r} is not one of {', '.join(KEY_STORES)}")

    @staticmethod
    def of(choice: BenchKeyStore | bool) -> BenchKeyStore:
        """``True``/``False`` (the old use_softhsm flag): softhsm / soft."""
        if isinstance(choice, BenchKeyStore):
            return choice
        return BenchKeyStore("softhsm" if choice else "soft")


@dataclass
class BenchPnc:
    pki: TestPki
    contracts: KeyStoreContracts
    service: ProvisioningService
    keystore_kind: str  # what holds the keys, for the output
    wall_clock: datetime

    def secc_pnc(self) -> SeccPncSim:
        return SeccPncSim(self.service, self.wall_clock)

    def contract(self) -> Contract | None:
        return self.contracts.contract()

    def install_before(self) -> Contract:
        """Install a contract outside any session (the scenario "contract already installed")."""
        request = self.contracts.certificate_installation_req(secrets.token_bytes(8))
        return self.contracts.install(self.service.answer(request, self.wall_clock))


def softhsm_token_config(folder: Path) -> Pkcs11Config:
    """The process's SoftHSM2 token. SoftHSM scans its token folder once per process, so a token made here stays
    for the process (removed at exit); later runs reuse it and keep apart by key label."""
    if os.environ.get("SOFTHSM2_CONF"):
        return init_softhsm(folder)
    base = Path(tempfile.mkdtemp(prefix="evcc-bench-softhsm-"))
    atexit.register(shutil.rmtree, base, True)
    return init_softhsm(base, label="evcc-bench")


def keystore_for_bench(folder: Path, choice: BenchKeyStore | bool,
                       stack: contextlib.ExitStack | None = None) -> tuple[KeyStore, str]:
    """The run's key store (:class:`BenchKeyStore`; a SoftHSM2 store's Pkcs11Config is its ``config``) and the
    words saying which, for the output. A private swtpm is stopped when ``stack`` closes (needed for ``tpm``)."""
    choice = BenchKeyStore.of(choice)
    if choice.kind == "tpm":
        if stack is None:
            raise ValueError("a TPM bench key store needs an ExitStack for its swtpm")
        return _tpm_for_bench(folder, choice.tcti, stack)
    use_softhsm = choice.kind == "softhsm"
    if use_softhsm and softhsm_available():
        try:
            token = Pkcs11KeyStore(softhsm_token_config(folder))
        except PlatformError as exc:
            reason = f"SoftHSM2 unusable ({exc})"
        else:
            conf = os.environ.get("SOFTHSM2_CONF", "?")
            return token, f"SoftHSM2 token (PKCS#11, private SOFTHSM2_CONF={conf})"
    else:
        reason = "SoftHSM2 not installed" if use_softhsm else "SoftHSM2 not wanted"
    kek = folder / "kek.bin"
    kek.write_bytes(secrets.token_bytes(32))
    kek.chmod(0o600)
    store = SoftKeyStore(SoftKeyStoreConfig(folder / "keys", kek_file=kek))
    return store, f"software key store (bench only; {reason})"


def _tpm_for_bench(folder: Path, tcti: str | None, stack: contextlib.ExitStack) -> tuple[KeyStore, str]:
    """A TPM key store with its key files in the run's folder: on ``tcti``, or on the process's private TPM."""
    try:
        from evcc.hsm.tpm_store import TpmConfig, TpmKeyStore
    except ImportError as exc:  # tpm2-pytss missing (scripts/setup.d/32-tpm.sh installs it)
        raise PlatformError(f"the TPM key store is not available here ({exc})") from None
    where = f"TPM 2.0 at {tcti}"
    if tcti is None:
        tcti, where = private_tpm_tcti(stack)
    store = TpmKeyStore(TpmConfig(tcti, folder / "tpm-keys"))
    stack.callback(store.close)
    return store, where


def private_tpm_tcti(stack: contextlib.ExitStack) -> tuple[str, str]:
    """A private swtpm for the bench, and the words for the output. With tpm2-abrmd installed: one swtpm behind
    tpm2-abrmd on a private session bus per process (removed at exit; later runs reuse it and keep apart by key
    folder), so that OpenSSL's tpm2 provider reaches it from the EV's network namespace (TLS 1.3 vehicle key)
    and the tabrmd TCTI's one session-bus connection per process stays valid; its bus address is the process's
    DBUS_SESSION_BUS_ADDRESS, as SoftHSM2's SOFTHSM2_CONF is. Without it: a swtpm for this run only (no TLS key
    use from a namespace)."""
    from evcc.hsm.swtpm import Swtpm
    from evcc.hsm.tpm_abrmd import TCTI, PrivateAbrmd, abrmd_available

    words = "TPM 2.0 (private swtpm behind tpm2-abrmd for this process, {tcti})"
    if os.environ.get(_BENCH_TPM_MARK):
        return TCTI, words.format(tcti=TCTI)
    if not abrmd_available():
        tpm = Swtpm()
        stack.callback(tpm.close)
        tcti = tpm.start()
        return tcti, f"TPM 2.0 (private swtpm for the run, {tcti}, no resource manager)"
    base = Path(tempfile.mkdtemp(prefix="evcc-bench-tpm-"))
    atexit.register(shutil.rmtree, base, True)
    tpm = Swtpm(base / "state")
    tpm.start()
    atexit.register(tpm.stop)
    abrmd = PrivateAbrmd(tpm.tcti, base)
    abrmd.start()
    atexit.register(abrmd.close)  # runs before tpm.stop (atexit is last in, first out)
    os.environ.update(abrmd.env)
    os.environ[_BENCH_TPM_MARK] = abrmd.address
    return TCTI, words.format(tcti=TCTI)


_BENCH_TPM_MARK = "EVCC_BENCH_TPM_BUS"


def new_public_key(store: KeyStore, label: str, algorithm: KeyAlgorithm) -> ec.EllipticCurvePublicKey:
    """A new key ``label`` in the key store; its public key."""
    info = store.generate(label, algorithm)
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[algorithm], info.public)


def certify_new_key(pki: TestPki, store: KeyStore, label: str, algorithm: KeyAlgorithm,
                    profile: Profile) -> x509.Certificate:
    """A new key ``label`` in the key store, certified by the run's OEM Sub-CA 2 with ``profile`` (as a production
    line would)."""
    issuer = (pki.certs["oem_sub_ca_2"], pki.signing_key("oem_sub_ca_2"))
    return issue_certificate(profile, new_public_key(store, label, algorithm), issuer, issuer[1], pki.suite, pki.now)


@dataclass
class BenchKeys:
    """The run's key store and contract store in a temporary folder; ``labels`` are the keys to delete at the end
    (the contracts' keys are found in the store)."""

    folder: Path
    keystore: KeyStore
    keystore_kind: str
    ctx: InstallContext
    labels: list[str]


@contextlib.contextmanager
def bench_keys(pki: TestPki, prefix: str, choice: BenchKeyStore | bool) -> Iterator[BenchKeys]:
    """The key store (:func:`keystore_for_bench`) and contract store of one run, with the install context under the
    run's V2G and MO roots; afterwards the keys in ``labels`` and the contracts' keys are deleted and the store
    closed (a private swtpm stopped)."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        keystore, kind = keystore_for_bench(folder, choice, stack)
        store = ContractStore(folder / "contracts")
        ctx = InstallContext(store=store, keystore=keystore, v2g_roots=(pki.certs["v2g_root"],), now=now,
                             mo_roots=(pki.certs["mo_root"],))
        keys = BenchKeys(folder, keystore, kind, ctx, [])
        try:
            yield keys
        finally:
            labels = keys.labels + [c.key_label for c in store.list() if c.key_label]
            for key in labels:
                with contextlib.suppress(EvccError):
                    keystore.delete(key)
            # Closing never logs the process out (evcc.hsm.p11_session): pkcs11-provider keeps a -20 vehicle key.
            # A TPM store is closed by the stack (before its swtpm stops).
            close = getattr(keystore, "close", None)
            if close is not None and BenchKeyStore.of(choice).kind != "tpm":
                close()


@contextlib.contextmanager
def bench_pnc(pki: TestPki, key_store: BenchKeyStore | bool = True) -> Iterator[BenchPnc]:
    """The run's Plug & Charge parts; the keys made for the run are deleted again afterwards. ``key_store``:
    :class:`BenchKeyStore` (or the old flag: True = SoftHSM2, False = software store)."""
    with bench_keys(pki, "evcc-bench-pnc-", key_store) as keys:
        label = f"bench-oem/{uuid.uuid4().hex[:10]}"
        keys.labels.append(label)
        cert = certify_new_key(pki, keys.keystore, label, KeyAlgorithm.EC_P256, profile_table()["oem_prov_leaf"])
        contracts = KeyStoreContracts(keys.ctx, oem_key_label=label, oem_cert=cert)
        service = ProvisioningService(ProvisioningSimulator(pki), BENCH_EMAID)
        yield BenchPnc(pki, contracts, service, keys.keystore_kind, keys.ctx.now)
