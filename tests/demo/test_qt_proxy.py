"""The Qt toolchain of an HMI team (issue 18 item 3): qdbusxml2cpp (Debian qtbase5-dev-tools) makes proxy classes
from the shipped interface files, moc and g++ compile them against QtDBus (qtbase5-dev). Generation and compile
only (no Qt event loop here); skipped with the reason when Qt is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DBUS_DIR = Path(__file__).resolve().parents[2] / "dbus"
NAMES = ("Manager", "Contract", "Session")


def _qt() -> tuple[str, str, list[str]]:
    tools = {t: shutil.which(t) for t in ("qdbusxml2cpp", "moc", "g++", "pkg-config")}
    missing = [t for t, path in tools.items() if path is None]
    if missing:
        pytest.skip(f"Qt tools missing ({', '.join(missing)}): Debian qtbase5-dev-tools, qtbase5-dev, g++ "
                    f"(scripts/setup.d/60-demo.sh)")
    flags = subprocess.run(["pkg-config", "--cflags", "Qt5DBus"], capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.skip("QtDBus headers missing (Debian qtbase5-dev): proxies generated but not compiled")
    return tools["qdbusxml2cpp"] or "", tools["moc"] or "", flags.stdout.split()


def test_qdbusxml2cpp_proxies_generate_and_compile(tmp_path: Path) -> None:
    qdbusxml2cpp, moc, flags = _qt()
    units = []
    for name in NAMES:
        base = f"evcc{name}"
        subprocess.run([qdbusxml2cpp, "-p", base, str(DBUS_DIR / f"org.evcc.Evcc1.{name}.xml")], cwd=tmp_path,
                       check=True, capture_output=True, timeout=60)
        subprocess.run([moc, f"{base}.h", "-o", f"moc_{base}.cpp"], cwd=tmp_path, check=True, capture_output=True,
                       timeout=60)
        units += [f"{base}.cpp", f"moc_{base}.cpp"]
    header = {n: (tmp_path / f"evcc{n}.h").read_text() for n in NAMES}
    assert "QDBusPendingReply<> SetPriorities(const QList<QDBusObjectPath> &contracts)" in header["Manager"]
    assert "QDBusPendingReply<QDBusObjectPath> ImportContract(const QDBusUnixFileDescriptor &chain" in header["Manager"]
    assert "void StateChanged(uint old_state, uint new_state, const QString &reason);" in header["Session"]
    assert "Q_PROPERTY(uint State READ state)" in header["Session"]
    assert "Q_PROPERTY(QString EMAID READ eMAID)" in header["Contract"]
    # one translation unit: one compiler start on a loaded machine
    (tmp_path / "all.cpp").write_text("".join(f'#include "{u}"\n' for u in units))
    build = subprocess.run(["g++", "-std=c++17", "-fPIC", "-Wall", "-Werror", "-c", "all.cpp", "-o", "all.o", *flags],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    assert (tmp_path / "all.o").stat().st_size > 0
