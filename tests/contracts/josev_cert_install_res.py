"""Runs INSIDE Josev's virtual environment (PyPI iso15118 0.31.2), not under pytest: Josev's own SECC code
builds a CertificateInstallationRes (its security helpers encrypt its contractLeaf.key for its OEM provisioning
certificate and sign the four references with its CPS key), and its EXI codec (EXIficient through Java)
encodes the whole V2G_Message. Prints the EXI bytes as hex on the last line of stdout.

Usage: <josev-venv>/bin/python josev_cert_install_res.py <PKI_PATH with iso15118_2/{certs,private_keys}>
"""

import sys

from iso15118.secc.states.iso15118_2_states import CertificateInstallation
from iso15118.shared.exi_codec import EXI
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.enums import Namespace
from iso15118.shared.messages.iso15118_2.body import Body
from iso15118.shared.messages.iso15118_2.header import MessageHeader
from iso15118.shared.messages.iso15118_2.msgdef import V2GMessage
from iso15118.shared.settings import SettingKey, load_shared_settings, shared_settings


def main() -> None:
    load_shared_settings()
    shared_settings[SettingKey.PKI_PATH] = sys.argv[1]
    shared_settings[SettingKey.MESSAGE_LOG_JSON] = False
    EXI().set_exi_codec(ExificientEXICodec())
    # The SECC state's own builder; it reads only the PKI files, not the session (self is unused).
    res, signature = CertificateInstallation.generate_certificate_installation_res(None)
    body = Body.parse_obj({str(res): res.dict()})
    message = V2GMessage(header=MessageHeader(session_id="0102030405060708", signature=signature), body=body)
    print(EXI().to_exi(message, Namespace.ISO_V2_MSG_DEF).hex())


if __name__ == "__main__":
    main()
