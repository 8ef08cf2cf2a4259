"""The native EXI codec of the V2G messages (SAP, DIN 70121, ISO 15118-2, ISO 15118-20), its typed messages,
fragments for signatures and the canonical JSON view.

Grammar ids: ``sap``, ``din``, ``iso2``, ``iso2-fragment``, ``xmldsig-fragment``, ``iso20-common``, ``iso20-ac``,
``iso20-dc``, ``iso20-wpt``, ``iso20-acdp``, ``iso20-common-fragment``. Message classes live in the schema sets'
modules: ``from evcc.exi import iso2`` then ``iso2.SessionSetupReqType(EVCCID=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.exi._api import (
    GRAMMARS,
    Counted,
    Fragment,
    decode,
    decode_counted,
    decode_fragment,
    decode_named,
    encode,
    encode_fragment,
    from_json,
    schema_module,
    to_json,
)
from evcc.exi._base import Message
from evcc.exi._errors import ExiError

if TYPE_CHECKING:
    from evcc.exi._generated import din, iso2, iso20_ac, iso20_acdp, iso20_common, iso20_dc, iso20_wpt, sap, xmldsig

_SCHEMA_SETS = ("sap", "din", "iso2", "xmldsig", "iso20_common", "iso20_ac", "iso20_dc", "iso20_wpt", "iso20_acdp")


def __getattr__(name: str) -> Any:  # the schema-set modules load on first use: a fast `import evcc.exi`
    if name in _SCHEMA_SETS:
        return schema_module(name)
    raise AttributeError(f"module 'evcc.exi' has no attribute {name!r}")


__all__ = [
    "GRAMMARS", "Counted", "ExiError", "Fragment", "Message", "decode", "decode_counted", "decode_fragment",
    "decode_named", "encode",
    "encode_fragment", "from_json", "schema_module", "to_json",
    "din", "iso2", "iso20_ac", "iso20_acdp", "iso20_common", "iso20_dc", "iso20_wpt", "sap", "xmldsig",
]
