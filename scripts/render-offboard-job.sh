#!/usr/bin/env bash
# Render deploy/kubernetes/job-offboard.yaml for one offboarding request, safely:
#   scripts/render-offboard-job.sh REQUEST_ID EMAIL | kubectl create -f -
# Both values are checked before anything is filled in, and anything that is not plainly a request id
# or an email address is refused (exit 2, nothing printed on stdout): a newline, a quote, a space, a
# '$', a leading '-' or '.', a control or non-ASCII character. (An internationalised domain is given
# in its ASCII form, xn--....) So pasted text cannot add YAML keys to the Job or options to the
# command. When the connector's Python is at hand (PYTHON, or this clone's .venv), the email must
# also pass the connector's own rule.
#   REQUEST_ID: lower-case letters, digits and '-', 1 to 39 characters, starting and ending with a
#               letter or digit (it names the Job: the same request cannot be created twice).
#   EMAIL:      local@domain, at most 254 characters.
# Settings (environment): TEMPLATE (deploy/kubernetes/job-offboard.yaml), PYTHON.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: '&' in a replacement is literal

here="$(cd "$(dirname "$0")/.." && pwd)"
TEMPLATE="${TEMPLATE:-$here/deploy/kubernetes/job-offboard.yaml}"
PYTHON="${PYTHON:-$here/.venv/bin/python}"

refuse() { printf 'error: %s\n' "$*" >&2; exit 2; }

[ "$#" -eq 2 ] || refuse "usage: $0 REQUEST_ID EMAIL"
request_id="$1"
email="$2"

LC_ALL=C
id_rule='^[a-z0-9]([a-z0-9-]{0,37}[a-z0-9])?$'
label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
email_rule="^[A-Za-z0-9_%+'][A-Za-z0-9._%+'-]{0,63}@($label\\.)+([A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})\$"

# [[ =~ ]] matches line by line in some builds: refuse any newline or control character first.
case "$request_id$email" in *[![:print:]]*) refuse "the request id or the email holds a control character" ;; esac
[[ "$request_id" =~ $id_rule ]] \
  || refuse "not a request id (a-z, 0-9 and '-', at most 39): $(printf '%q' "$request_id")"
[[ "${#email}" -le 254 && "$email" =~ $email_rule && "$email" != *..* && "$email" != *.@* ]] \
  || refuse "not an email address: $(printf '%q' "$email")"
if [ -x "$PYTHON" ] && "$PYTHON" -c 'import connector.policy' 2>/dev/null; then
  "$PYTHON" -c 'import sys; from connector.policy import requested_emails; requested_emails([sys.argv[1]])' \
    "$email" 2>/dev/null || refuse "the connector does not take this email address: $(printf '%q' "$email")"
fi

[ -r "$TEMPLATE" ] || refuse "cannot read the template $TEMPLATE"
# shellcheck disable=SC2016  # the template's placeholders, literally
id_slot='${REQUEST_ID}' email_slot='${EMAIL}'
text="$(<"$TEMPLATE")"
case "$text" in *"$id_slot"*"$email_slot"*) ;; *) refuse "$TEMPLATE has no $id_slot and $email_slot" ;; esac
text="${text//"$id_slot"/$request_id}"
text="${text//"$email_slot"/$email}"
printf '%s\n' "$text"
