"""The peer of `twofa serve` in benchmarks/run: GET /api/v1/users/me as a FastAPI service
does it, with uvicorn (2 workers) and PyJWT: verify the EdDSA access token with the public key
of twofa's JWKS, check its session in the same SQLite database (one indexed read), answer the
user. Run by benchmarks/serve.py: TWOFA_DB=... TWOFA_JWKS=... uvicorn fastapi_me:app --workers 2
"""
import json
import os
import sqlite3
import time

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

app = FastAPI()
bearer = HTTPBearer(auto_error=False)
KEYS = {key["kid"]: jwt.PyJWK(key).key for key in json.loads(os.environ["TWOFA_JWKS"])["keys"]}
DATABASE = os.environ["TWOFA_DB"]
_connection = None


def connection():
    global _connection
    if _connection is None:
        _connection = sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True, check_same_thread=False)
    return _connection


def caller(credentials: HTTPAuthorizationCredentials = Depends(bearer)):
    if credentials is None:
        raise HTTPException(401, {"code": "invalid_token"})
    try:
        kid = jwt.get_unverified_header(credentials.credentials)["kid"]
        claims = jwt.decode(credentials.credentials, KEYS[kid], algorithms=["EdDSA"], leeway=0)
    except Exception:
        raise HTTPException(401, {"code": "invalid_token"})
    row = connection().execute(
        "SELECT u.name, u.created_at, u.last_login_at, t.status, s.expires_at FROM sessions s "
        "JOIN users u ON u.id = s.user_id LEFT JOIN totp t ON t.user_id = u.id WHERE s.id = ?",
        (claims["sid"],),
    ).fetchone()
    if row is None or row[0] != claims["sub"] or row[4] <= time.time():
        raise HTTPException(401, {"code": "invalid_token"})
    return claims, row


@app.get("/api/v1/users/me")
def me(found=Depends(caller)):
    claims, row = found
    return {"user": row[0], "two_factor": row[3] or "off", "created_at": row[1], "last_login_at": row[2], "amr": claims["amr"]}
