"""Closing a PKCS#11 session without logging the process out (PKCS#11 v2.40 §5.6 C_CloseSession, §5.7 C_Logout).

A login belongs to the application (the process), not to the session that made it: C_Logout from any session
logs every session of the process out, and so does the closing of its last session. python-pkcs11's
``Session.close`` calls C_Logout before C_CloseSession whenever that session logged in. In a process where OpenSSL's
pkcs11-provider uses the same token (the vehicle's TLS 1.3 key), that logout pulls the login from under the
provider: SoftHSM invalidates the handles of private objects at logout, so the provider's next CertificateVerify
fails (CKR_KEY_HANDLE_INVALID), and a provider without a PIN would prompt for one on the terminal.

:func:`close_session` calls the module's own C_CloseSession (reached through C_GetFunctionList, as every PKCS#11
module exports it) and nothing else: the token stays logged in while another session of the process (the
provider's) is open, and is logged out by the module when the last one closes.

::

    CK_FUNCTION_LIST = { CK_VERSION version;  C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList,
                         C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo,
                         C_InitToken, C_InitPIN, C_SetPIN, C_OpenSession, C_CloseSession, ... }
"""

from __future__ import annotations

import ctypes

from evcc.hsm.keystore import KeyStoreError

_CK_RV = ctypes.c_ulong
_CLOSE_SESSION = ctypes.CFUNCTYPE(_CK_RV, ctypes.c_ulong)
_FUNCTIONS_BEFORE_CLOSE = 13  # C_Initialize ... C_OpenSession (module docstring)
_CKR_OK = 0
_CKR_SESSION_CLOSED = 0xB0
_CKR_SESSION_HANDLE_INVALID = 0xB3


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _FunctionListHead(ctypes.Structure):
    _fields_ = [("version", _Version), ("before", ctypes.c_void_p * _FUNCTIONS_BEFORE_CLOSE),
                ("C_CloseSession", _CLOSE_SESSION)]


def close_session(module: str, session: object) -> None:
    """C_CloseSession of the python-pkcs11 ``session`` on the PKCS#11 ``module`` (already loaded in this process),
    without C_Logout. A session that is already closed is not an error."""
    handle = getattr(session, "handle", None)  # the Cython Session's handle (not in python-pkcs11's stubs)
    if not isinstance(handle, int):
        raise KeyStoreError(f"PKCS#11 module {module}: {type(session).__name__} carries no session handle")
    try:
        library = ctypes.CDLL(module)
    except OSError as exc:
        raise KeyStoreError(f"PKCS#11 module {module} cannot be loaded: {exc}") from exc
    get_function_list = library.C_GetFunctionList
    get_function_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_FunctionListHead))]
    get_function_list.restype = _CK_RV
    functions = ctypes.POINTER(_FunctionListHead)()
    rv = get_function_list(ctypes.byref(functions))
    if rv != _CKR_OK or not functions:
        raise KeyStoreError(f"PKCS#11 module {module}: C_GetFunctionList failed (CKR {rv:#x})")
    rv = functions.contents.C_CloseSession(handle)
    if rv not in (_CKR_OK, _CKR_SESSION_CLOSED, _CKR_SESSION_HANDLE_INVALID):
        raise KeyStoreError(f"PKCS#11 module {module}: C_CloseSession failed (CKR {rv:#x})")
