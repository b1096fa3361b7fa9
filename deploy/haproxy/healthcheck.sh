#!/bin/bash
# Container healthcheck for the load balancer: HAProxy's monitor-uri answers 200 while it runs.
# (No curl in the image; a script file because some engines mangle multi-word CMD healthchecks.)
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/8080
printf 'GET /lb/health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 2 status_line <&3
[[ $status_line =~ ^HTTP/1\.[01]\ 200 ]]
