"""Twilio's units table: the error codes that decide whether trying again can help, and whose fault it is.

Codes not listed here fall back on the HTTP status (429 and 5xx are retryable), see `error.py`.
"""

from __future__ import annotations

from connectors.messaging.base import Suppression

# Twilio error codes that will fail the same way however often we retry, in two kinds.
#
# The recipient is the problem: an invalid, unreachable or unsubscribed number. The message is skipped
# for this customer; `RECIPIENT_SUPPRESSIONS` says which answers mean "never try this number again".
RECIPIENT_CODES: dict[int, str] = {
    21211: "invalid 'To' phone number",
    21610: "recipient has unsubscribed (replied STOP)",
    21612: "the 'To' number cannot be reached from the 'From' number",
    21614: "'To' is not a mobile number",
    63003: "WhatsApp: channel could not find the 'To' address (not a WhatsApp user)",
    63024: "WhatsApp: invalid message recipient (cannot receive WhatsApp messages)",
}
# 21612 and 63024 get no suppression: another From number, or a later app version, may reach them.
RECIPIENT_SUPPRESSIONS: dict[int, Suppression] = {
    21610: "opted_out",
    21211: "bounced",
    21614: "bounced",
    63003: "bounced",
}
# Our setup is the problem (account, credentials, sender, permissions, content): someone has to fix it.
# 21408 belongs here: the account's Geo Permissions do not allow the recipient's country, which the
# merchant can change in Twilio's console; it is not something the customer did.
CONFIGURATION_CODES: dict[int, str] = {
    10001: "the Twilio account is not active (suspended or out of funds: check it in Twilio's console)",
    20003: "authentication failed (check the Account SID and Auth Token)",
    20005: "the Twilio account is not active (suspended, out of funds or trial not activated)",
    20404: "resource not found (check the Account SID)",
    21212: "invalid 'From' phone number (check the policy's sender)",
    21408: "sending to this region is not enabled (allow the country in Twilio's Messaging Geo Permissions)",
    21602: "message body is required (check the message template)",
    21603: "a 'From' number is required (set the policy's sender)",
    21604: "a 'To' number is required",
    21606: "the 'From' number cannot send this kind of message (check the policy's sender)",
    21608: "trial accounts can only send to verified numbers (upgrade the Twilio account or verify the number)",
    21617: "message body too long (shorten the message template)",
    63007: "WhatsApp: no channel found for the 'From' address (check the policy's whatsapp sender)",
    63016: "WhatsApp: outside the 24-hour window, a template is required",
}
PERMANENT_CODES: dict[int, str] = CONFIGURATION_CODES | RECIPIENT_CODES
# Codes Twilio documents as temporary (queue overflow, rate limits).
TEMPORARY_CODES: dict[int, str] = {
    20429: "too many requests",
    21611: "the 'From' number's queue is full",
    30001: "queue overflow",
}
