# The usual PKCS#11 module for TPMs, measured against our PKCS#11 key store (tests/hsm/test_pkcs11_honest.py and the
# README key-store table): tpm2-pkcs11 (Debian libtpm2-pkcs11-1 1.9 and its tpm2_ptool), with tpm2-abrmd as the
# resource manager on a private D-Bus session bus (dbus-daemon) and its TCTI (libtss2-tcti-tabrmd0). Without a
# resource manager tpm2-pkcs11 runs out of TPM object contexts after two keys (PKI.md §4).
APT_PACKAGES+=(libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon)
