"""The documentation of the D-Bus API ``org.evcc.Evcc1`` that goes into the shipped interface files
(``dbus/org.evcc.Evcc1.{Manager,Contract,Session}.xml``, installed to ``/usr/share/dbus-1/interfaces/``).

The structure (members, signatures, access) comes from the live service (:mod:`evcc.demo.introspect`); the text,
the error names, the signal argument names and the ``org.freedesktop.DBus.Property.EmitsChangedSignal`` values
come from here. A member of the service without an entry here makes the generator fail, naming the entry to add.

Versioning rule (API v1, the ``1`` in ``org.evcc.Evcc1``): within a version, changes are compatible only: methods,
properties, signals and errors may be added (and must be added to the interface files); no member is removed or
renamed, no signature, access or argument order changes, no enumeration value changes meaning. Anything else is a
new version (``org.evcc.Evcc2``) served beside the old one. tests/demo/test_api_version.py enforces the rule
against the committed files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_DOCS: dict[str, str] = {
    "UnknownContract": "the object path names no stored contract (a stale path: the contract was removed)",
    "InvalidArguments": "a priority list that is not a permutation of all contracts, a bad eMAID, an unreadable "
                        "or too large file descriptor (the message names the limit)",
    "ImportFailed": "the files are not a valid contract chain and matching key (the message says what was wrong)",
    "StoreFailed": "the contract store could not be written, or the service is stopping and takes no new "
                   "changes (nothing changed)",
    "NotSupported": "the operation is not available in this configuration (no contract importer)",
}


@dataclass(frozen=True)
class Member:
    text: str
    errors: tuple[str, ...] = ()  # org.evcc.Evcc1.Error.<name> a method may answer
    args: dict[str, str] = field(default_factory=dict)  # argument name -> text
    arg_names: tuple[str, ...] = ()  # signal arguments, method results (the service does not name them)
    emits: str = ""  # properties: "true", "invalidates", "const" or "false" (EmitsChangedSignal)


@dataclass(frozen=True)
class InterfaceDoc:
    text: str
    members: dict[str, Member]


ANY_TIME = (" Allowed at any time, also during a session: the session that runs keeps the contract it authorised "
            "with; the change takes effect at the next plug-in.")

INTERFACES: dict[str, InterfaceDoc] = {
    "org.evcc.Evcc1.Manager": InterfaceDoc(
        "The contracts (ISO 15118 Plug & Charge) of the vehicle, at /org/evcc/Evcc1. The contracts themselves are "
        "objects /org/evcc/Evcc1/contract/<id> (org.evcc.Evcc1.Contract) listed by "
        "org.freedesktop.DBus.ObjectManager.GetManagedObjects at /org/evcc/Evcc1, with InterfacesAdded and "
        "InterfacesRemoved as they come and go. Mutating methods are allowed to the group evcc by the system-bus "
        "policy (/usr/share/dbus-1/system.d/org.evcc.Evcc1.conf). Every method answers once; errors are "
        "org.evcc.Evcc1.Error.<Name>.",
        {
            "Version": Member("The API version: 1 (the interface name carries it; compatible additions only).",
                              emits="const"),
            "SelectContract": Member(
                "Make this contract the preferred one (first in the priority order; the others keep their order)."
                + ANY_TIME, ("UnknownContract", "StoreFailed"), {"contract": "object path of a Contract"}),
            "SetPriorities": Member(
                "The whole priority order, first = preferred; it must name every contract once. Stored atomically; "
                "ISO 15118-20 sends the same order as PrioritizedEMAIDs." + ANY_TIME,
                ("UnknownContract", "InvalidArguments", "StoreFailed"),
                {"contracts": "object paths of all Contracts, preferred first"}),
            "RequestInstallation": Member(
                "Ask for a new contract for this eMAID: a Contract in State 6 (PendingInstallation) appears at once "
                "and is installed by CertificateInstallation at the next session with a charger that offers it. "
                "Returns its object path.",
                ("InvalidArguments", "StoreFailed"),
                {"emaid": "the eMAID (ISO 15118-2 Annex H), e.g. DE8AA001234567X",
                 "priority": "its priority (higher wins)"}, arg_names=("contract",)),
            "RemoveContract": Member(
                "Remove a contract and delete its key. A later call with the same path answers UnknownContract."
                + ANY_TIME, ("UnknownContract", "StoreFailed"), {"contract": "object path of a Contract"}),
            "ImportContract": Member(
                "Import a contract from files the caller opened (workshops): the PEM chain (leaf first) and its "
                "PEM private key, regular files or pipes of at most 64 KiB each (a pipe must be closed by its "
                "writer within 5 s). The key goes into the key store. Returns the new Contract's object path.",
                ("ImportFailed", "InvalidArguments", "NotSupported", "StoreFailed"),
                {"chain": "file descriptor of the PEM certificate chain",
                 "key": "file descriptor of the PEM private key", "priority": "its priority (higher wins)"},
                arg_names=("contract",)),
        }),
    "org.evcc.Evcc1.Contract": InterfaceDoc(
        "One stored contract, at /org/evcc/Evcc1/contract/<id> (id escaped: characters outside [A-Za-z0-9] as "
        "_XX). Read-only; changed through org.evcc.Evcc1.Manager.",
        {
            "Id": Member("The store's identifier of the contract (also the last element of the path).", emits="const"),
            "EMAID": Member("The e-mobility account identifier (the contract certificate's subject CN).",
                            emits="true"),
            "Provider": Member("Country and provider of the eMAID, e.g. DE-8AA (empty if the eMAID is not parsed).",
                               emits="true"),
            "NotBefore": Member("Start of validity, Unix seconds (0 = not installed yet).", emits="true"),
            "NotAfter": Member("End of validity, Unix seconds (0 = not installed yet).", emits="true"),
            "Priority": Member("Priority, higher wins (the order SetPriorities gave).", emits="true"),
            "State": Member("0 Unknown, 1 Active, 2 Expiring (ends within the configured window, 30 days by "
                            "default), 3 Expired, 4 NotYetValid, 5 Revoked, 6 PendingInstallation.", emits="true"),
        }),
    "org.evcc.Evcc1.Session": InterfaceDoc(
        "The charging session, at /org/evcc/Evcc1/Session. Fast values (SoC, Power, Energy, LoopLag) are sent "
        "in PropertiesChanged at most every 0.1 s; State, Errors and Reason at once.",
        {
            "State": Member("0 Unknown, 1 Idle, 2 Slac, 3 Setup, 4 Authorization, 5 ChargeParameter, 6 CableCheck, "
                            "7 PreCharge, 8 Charging, 9 WeldingDetection, 10 Stopping, 11 Stopped, 12 Error.",
                            emits="true"),
            "Protocol": Member("The protocol of the current or last session as configured: din, iso2, iso20-dc, "
                               "iso20-ac, iso20-dc-bpt, iso20-ac-bpt (empty before the first session; others may "
                               "be added).", emits="true"),
            "SoC": Member("State of charge of the battery, percent (from the BMS).", emits="true"),
            "Power": Member("Power, W (the charger's present voltage x current; negative = discharging).",
                            emits="true"),
            "Energy": Member("Energy of this session, Wh.", emits="true"),
            "Errors": Member("Problems of the current session, readable text (empty when none).", emits="true"),
            "Reason": Member("Why the last state change happened, readable text.", emits="true"),
            "Limit": Member("What the EV may ask for now and what set it (EV, EVSE maximum, schedule, minimum), "
                            "e.g. \"27.1 A (EVSE maximum)\"; empty outside the charge loop.", emits="true"),
            "LoopLag": Member("Health figure: the service's largest event-loop delay over the last minute, ms "
                              "(0 until measured).", emits="true"),
            "StateChanged": Member("The session state changed (State's values); sent before the "
                                   "PropertiesChanged that carries the new State.",
                                   args={"old_state": "the previous State", "new_state": "the new State",
                                         "reason": "why, readable text"},
                                   arg_names=("old_state", "new_state", "reason")),
        }),
}
