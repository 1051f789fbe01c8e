#!/usr/bin/python3
"""A real SMTP server for the mail tests (Debian's python3-aiosmtpd; run it with
/usr/bin/python3). Every message it accepts becomes DIR/<n>.eml, written under a temporary
name and renamed, preceded by the envelope as X-Envelope-From / X-Envelope-To headers, so
that tests see exactly what went over the wire. AUTH PLAIN/LOGIN is accepted without TLS and
the user name recorded in X-Auth-User.

Usage: smtp_sink.py PORT DIR   (listens on 127.0.0.1; DIR may hold mails of an earlier run)"""
import itertools, os, re, signal, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, directory = int(sys.argv[1]), sys.argv[2]
os.makedirs(directory, exist_ok=True)
# A restarted sink (same directory) continues the numbering: nothing is overwritten.
done = [int(m.group(1)) for f in os.listdir(directory) if (m := re.fullmatch(r"(\d+)\.eml", f))]
counter = itertools.count(max(done, default=0) + 1)


class Store:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        user = session.auth_data.login.decode() if session.auth_data else ""
        head = (f"X-Envelope-From: {envelope.mail_from}\r\n"
                f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
                f"X-Auth-User: {user}\r\n").encode()
        body = envelope.original_content or envelope.content
        tmp = os.path.join(self.directory, f".{n:06}.tmp")
        with open(tmp, "wb") as f:
            f.write(head + body)
        os.rename(tmp, os.path.join(self.directory, f"{n:06}.eml"))
        return "250 OK"


def accept(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True, auth_data=auth_data)


ctl = Controller(Store(directory), hostname="127.0.0.1", port=port, authenticator=accept,
                 auth_require_tls=False, decode_data=False)
ctl.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *a: (ctl.stop(), sys.exit(0)))
signal.pause()
