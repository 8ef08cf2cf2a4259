# TLS part (evcc.session TLS 1.3 for ISO 15118-20): OpenSSL 3's pkcs11-provider, so that the vehicle's TLS key can
# stay in the PKCS#11 token (SoftHSM2 in tests). Debian bookworm has it only in bookworm-backports (1.0); later
# releases in main. Without it the token-key tests skip and the EV uses the software key store.
APT_PACKAGES+=(openssl softhsm2)
setup_pkcs11_provider() {
    if dpkg-query -W -f='${Status}' pkcs11-provider 2>/dev/null | grep -q "install ok installed"; then
        return 0
    fi
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    local codename=""
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    local target=()
    if [ "$codename" = bookworm ]; then
        local list=/etc/apt/sources.list.d/evcc-bookworm-backports.sources
        if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            echo "setup: adding Debian bookworm-backports (for pkcs11-provider) in $list"
            printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                | $SUDO tee "$list" >/dev/null
        fi
        target=(-t bookworm-backports)
    fi
    echo "setup: apt-get install ${target[*]} pkcs11-provider"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            --no-install-recommends "${target[@]}" pkcs11-provider >/dev/null; }; then
        echo "setup: WARNING pkcs11-provider could not be installed; TLS 1.3 token-key tests will be skipped" >&2
    fi
}
POST_INSTALL+=(setup_pkcs11_provider)
