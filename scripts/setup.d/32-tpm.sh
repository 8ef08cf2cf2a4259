# TPM 2.0 key store (evcc/hsm/tpm_store.py, evcc/hsm/swtpm.py): swtpm (socket-mode software TPM) and swtpm_ioctl
# (swtpm-tools) for tests and the bench; tpm2-tools for manual checks; tpm2-openssl (OpenSSL 3 provider "tpm2",
# loads our "TSS2 PRIVATE KEY" files for TLS); tpm2-abrmd (resource manager on a private session bus: the daemon test
# reaches the swtpm from a network namespace through it, evcc/hsm/tpm_abrmd.py); libtss2-dev + pkg-config + gcc to
# build tpm2-pytss.
# tpm2-pytss from PyPI, not Debian's python3-tpm2-pytss: our interpreter is pyenv's 3.11, which does not see Debian's
# dist-packages. 2.3.0 builds against Debian 12's tpm2-tss 3.2.1 (its cffi build probes the installed tss2 version).
APT_PACKAGES+=(swtpm swtpm-tools tpm2-tools tpm2-openssl tpm2-abrmd dbus-daemon libtss2-dev pkg-config gcc)
PIP_PACKAGES+=("tpm2-pytss==2.3.0")
