#!/bin/bash
B=127.0.0.1:19092; T=kcat-t; G=kcat-g
/tmp/venv/bin/python -c "
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a=AdminClient({'bootstrap.servers':'$B'}); [f.result() for f in a.create_topics([NewTopic('$T',4,1)]).values()]"
kcat -b $B -G $G -X auto.offset.reset=earliest -f '%s\n' -X enable.auto.commit=true -X auto.commit.interval.ms=200 $T > a.out 2> a.err & PA=$!
kcat -b $B -G $G -X auto.offset.reset=earliest -f '%s\n' -X enable.auto.commit=true -X auto.commit.interval.ms=200 $T > b.out 2> b.err & PB=$!
sleep 4
for i in $(seq 0 399); do echo "k$i:v$i"; done | kcat -b $B -P -t $T -K: 
sleep 4; kill -TERM $PA $PB; wait $PA $PB 2>/dev/null
na=$(wc -l < a.out); nb=$(wc -l < b.out); u=$(cat a.out b.out | sort -u | wc -l); t=$(cat a.out b.out | wc -l)
ok=FAIL; [ "$na" -gt 0 ] && [ "$nb" -gt 0 ] && [ "$u" = 400 ] && [ "$t" = 400 ] && ok=PASS
echo "RESULT kcat a_split $ok member A $na, member B $nb, union $u of 400, total $t"
for i in $(seq 400 439); do echo "k$i:v$i"; done | kcat -b $B -P -t $T -K:
timeout 20 kcat -b $B -G $G -X auto.offset.reset=earliest -f '%s\n' -e $T > c.out 2> c.err
n=$(wc -l < c.out); lo=$(sed 's/v//' c.out | sort -n | head -1)
ok=FAIL; [ "$n" = 40 ] && [ "$lo" = 400 ] && ok=PASS
echo "RESULT kcat b_resume $ok $n records, lowest v$lo"
