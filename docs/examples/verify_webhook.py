# Verifies an atiende webhook delivery (Standard Webhooks) with Python's standard library only.
# In a web framework, take the three headers and the raw body from the request; here they come
# from the environment so that atiende's tests run this very file.
import base64, hashlib, hmac, os, sys, time

def verify(secret: str, msg_id: str, timestamp: str, signature_header: str, body: bytes,
           tolerance_seconds: int = 300) -> bool:
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False  # too old or from the future: a replayed request
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # The header may carry several signatures ("v1,… v1,…") while a secret is being rotated.
    return any(hmac.compare_digest(expected, sig.split(",", 1)[1])
               for sig in signature_header.split() if sig.startswith("v1,"))

ok = verify(os.environ["WEBHOOK_SECRET"], os.environ["WEBHOOK_ID"],
            os.environ["WEBHOOK_TIMESTAMP"], os.environ["WEBHOOK_SIGNATURE"],
            os.environ["WEBHOOK_BODY"].encode())
sys.exit(0 if ok else 1)
