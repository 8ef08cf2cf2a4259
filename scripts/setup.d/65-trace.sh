# Capture decoding (evcc trace decode --keylog, evcc conformance --passive --keylog): tshark decrypts TLS sessions
# from an NSS key log; the V2GTP/EXI decoding is ours. Its debconf question (non-root capture) keeps its default.
APT_PACKAGES+=(tshark)
