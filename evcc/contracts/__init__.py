"""Contracts: eMAID/PCID, the multi-contract store, selection, chain validation and certificate installation
(ISO 15118-2 §8.4.3.11/12 CertificateInstallation/Update, ISO 15118-20 §8.3.4.x CertificateInstallation).

Private keys live only behind :mod:`evcc.hsm`; this package keeps certificates and metadata."""
