#!/usr/bin/env bash
# Starts kafkit-broker with a SASL_SSL listener on 127.0.0.1:19094 (and PLAINTEXT on 19093) for
# the sec_* scripts: a CA and a broker certificate made with openssl in $DIR, users
# alice/alice-secret for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. Prints the CA's path.
set -euo pipefail
DIR=${DIR:-/tmp/kafkit-sec}
BROKER=${BROKER:-$(cd "$(dirname "$0")/../.." && pwd)/target/debug/kafkit-broker}
mkdir -p "$DIR" && cd "$DIR"
curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${curve[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=byhand-ca 2>/dev/null
openssl req "${curve[@]}" -keyout broker.key -out broker.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.crt \
  -days 2 -extfile san.ext 2>/dev/null
cat broker.key broker.crt >broker.pem
cat >server.properties <<PROPS
listeners=PLAINTEXT://127.0.0.1:19093,SASL_SSL://127.0.0.1:19094
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/broker.pem
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
kafkit.scram.credentials=SCRAM-SHA-256=[name=alice,password=alice-secret],SCRAM-SHA-512=[name=alice,password=alice-secret]
group.initial.rebalance.delay.ms=0
PROPS
"$BROKER" serve --config "$DIR/server.properties" >"$DIR/broker.out" 2>"$DIR/broker.log" &
echo $! >"$DIR/broker.pid"
sleep 1
echo "$DIR/ca.pem"
