#!/usr/bin/env bash
# Log in over Tryton JSON-RPC; prints "USER_ID AUTHORIZATION_HEADER_VALUE".
#   lib/login.sh BASE_URL DBNAME [LOGIN] [PASSWORD]
# Wire: POST BASE_URL/DBNAME/ {"id":1,"method":"common.db.login","params":[LOGIN,{"password":PW},"en"]}
#   -> {"id":1,"result":[USER_ID,"SESSION_KEY"]}   (as trytond 6.0)
# Authenticated calls send  Authorization: Session base64(LOGIN:USER_ID:SESSION_KEY)
set -euo pipefail
url="${1:?BASE_URL}"; db="${2:?DBNAME}"; login="${3:-${ADMIN_LOGIN:-admin}}"; pw="${4:-${ADMIN_PASSWORD:-admin}}"
resp="$(curl -sS -m 30 -H 'Content-Type: application/json' \
  -d "{\"id\":1,\"method\":\"common.db.login\",\"params\":[\"$login\",{\"password\":\"$pw\"},\"en\"]}" "${url%/}/$db/" 2>&1)" || true
read -r uid key < <(printf '%s' "$resp" | python3 -c 'import json,sys
r=json.load(sys.stdin).get("result") or [None,None]
print(r[0] if r[0] is not None else "", r[1] if len(r)>1 and r[1] else "")' 2>/dev/null) || true
[ -n "${uid:-}" ] && [ -n "${key:-}" ] || { echo "login failed: ${resp:0:300}" >&2; exit 1; }
printf '%s Session %s\n' "$uid" "$(printf '%s:%s:%s' "$login" "$uid" "$key" | base64 -w0)"
