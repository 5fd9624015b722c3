"""Emailing an invoice with its PDF: over SMTP when configured, else as an .eml file under var/mail.

SMTP replies sort failures: a 4xx reply or a lost connection is temporary (the job retries with
backoff); a 5xx reply is permanent (the notification job fails, the invoice stays as it is).
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from config.settings import Settings
from invoicing.files import write_atomically
from jobs.retry_policy import TransientError


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpOptions | None:
        """The SMTP server of the settings; None without SMTP_HOST (emails are written to files)."""
        if not settings.smtp_host:
            return None
        return cls(host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
                   password=settings.smtp_password, starttls=settings.smtp_starttls, timeout_s=settings.smtp_timeout_s)


class PermanentMailError(Exception):
    """The mail server refused the message for good (5xx)."""


def compose_invoice_email(*, number: str, total: str, currency: str, due_date: str, recipient: str, sender: str,
                          seller_name: str, pdf: bytes) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"Invoice {number} from {seller_name}"
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    # The same Message-ID on every attempt lets the receiving side drop a copy sent twice.
    message["Message-ID"] = make_msgid(idstring=number, domain=sender.rpartition("@")[2] or None)
    message.set_content(
        f"Hello,\n\nplease find attached invoice {number} over {total} {currency}, due on {due_date}.\n\n"
        f"Kind regards,\n{seller_name}\n")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{number}.pdf")
    return message


def send_smtp(message: EmailMessage, options: SmtpOptions) -> None:
    try:
        with smtplib.SMTP(options.host, options.port, timeout=options.timeout_s) as client:
            if options.starttls:
                client.starttls(context=ssl.create_default_context())
            if options.username:
                client.login(options.username, options.password)
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = {code for code, _reply in error.recipients.values()}
        if all(500 <= code < 600 for code in codes):
            raise PermanentMailError(f"the mail server refused the recipient: {error.recipients}") from None
        raise TransientError(f"the mail server deferred the recipient: {error.recipients}") from None
    except smtplib.SMTPResponseException as error:
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        reply = f"{error.smtp_code} {text}"
        if 500 <= error.smtp_code < 600:
            raise PermanentMailError(f"the mail server refused the message: {reply}") from None
        raise TransientError(f"the mail server answered {reply}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise TransientError(f"the mail server could not be reached: {type(error).__name__}: {error}") from None


def write_eml(message: EmailMessage, mail_dir: Path, name: str) -> Path:
    path = mail_dir / f"{name}.eml"
    write_atomically(path, message.as_bytes())
    return path


def deliver(message: EmailMessage, smtp: SmtpOptions | None, mail_dir: Path, name: str) -> str:
    """Send (or, without SMTP, write) the message; say where it went."""
    if smtp is None:
        return f"written to {write_eml(message, mail_dir, name)}"
    send_smtp(message, smtp)
    return f"sent through {smtp.host}:{smtp.port}"
