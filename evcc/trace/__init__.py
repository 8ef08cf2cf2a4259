"""`evcc trace decode`: captures analysed with the product's own parsers and codec (issue 16 point 4): HomePlug AV
MMEs (ISO 15118-3 SLAC), SDP, V2GTP, SupportedAppProtocol and every EXI message in the negotiated grammar."""
