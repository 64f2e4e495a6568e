"""Parses one message as RFC 5322 with Python's strict email policy and prints what the tests
check, as JSON: the headers (each once), any defects found, and the plain-text body."""
import email
import email.policy
import json
import sys

raw = open(sys.argv[1], "rb").read()
message = email.message_from_bytes(raw, policy=email.policy.strict)
headers = {}
for name, value in message.items():
    headers.setdefault(name.lower(), []).append(str(value))
body = message.get_body(preferencelist=("plain",))
print(json.dumps({
    "headers": headers,
    "defects": [type(defect).__name__ for defect in message.defects],
    "to": [address.addr_spec for address in message["to"].addresses],
    "date_parsed": message["date"].datetime.isoformat() if message["date"] else None,
    "body": body.get_content() if body is not None else None,
}))
