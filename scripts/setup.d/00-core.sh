# Core: the build tools and test tools every part needs.
APT_PACKAGES+=(iproute2 procps)
PIP_PACKAGES+=("maturin>=1.5,<2" "pytest>=8" "hypothesis>=6.100" "mypy>=1.10" "xmlschema>=3")
