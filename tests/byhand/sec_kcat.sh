#!/usr/bin/env bash
# SASL_SSL by hand with kcat (librdkafka) against sec_broker.sh's listener: produce and read
# back 10 records for each mechanism; a wrong password gets no metadata.
set -u
CA=${1:-/tmp/kafkit-sec/ca.pem}
for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
  opts=(-b 127.0.0.1:19094 -X security.protocol=SASL_SSL -X ssl.ca.location="$CA"
        -X sasl.mechanisms=$mech -X sasl.username=alice)
  topic=sec-kcat-$mech-$$
  seq 0 9 | sed 's/^/v/' | kcat "${opts[@]}" -X sasl.password=alice-secret -P -t "$topic" -p 0
  got=$(kcat "${opts[@]}" -X sasl.password=alice-secret -C -t "$topic" -p 0 -o beginning -e -q | tr '\n' ' ')
  if [[ $got == "v0 v1 v2 v3 v4 v5 v6 v7 v8 v9 " ]]; then r=PASS; else r=FAIL; fi
  echo "RESULT kcat $mech round trip $r $got"
  err=$(timeout 15 kcat "${opts[@]}" -X sasl.password=wrong -L -m 5 2>&1 | grep -o 'Authentication failed[^(]*' | head -n 1)
  if [[ -n $err ]]; then r=PASS; else r=FAIL; fi
  echo "RESULT kcat $mech wrong password $r $err"
done
