"""Test PKI for ISO 15118-2/-20 Plug & Charge (profiles, generator, `evcc pki init`). Test use only."""
