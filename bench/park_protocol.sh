#!/bin/bash
# The park/unpark protocol against a running server with the image's layer (docs/design.md, "Warm standby"),
# as it was run on server-on-cpu: TOKEN_FILE=... OUTPUTS=... [SERVER=... CONTROL=... METRICS=... VOICE=...] bench/park_protocol.sh
set -u
T=$(cat "${TOKEN_FILE:?the control token file}"); C=${CONTROL:-http://127.0.0.1:8005}; S=${SERVER:-http://127.0.0.1:8004}; OUT=${OUTPUTS:?the server working directory outputs/ folder}; TMP=$(mktemp -d)
auth=(-H "Authorization: Bearer $T")
say() { curl -s -o $TMP/say.$1 -D $TMP/say.$1.h -w "%{http_code} %{time_total}s" -H 'Content-Type: application/json' -d "{\"model\":\"x\",\"input\":\"$2\",\"voice\":\"${VOICE:-Emily.wav}\",\"seed\":7}" $S/v1/audio/speech; }
outs() { ls "$OUT" 2>/dev/null | wc -l; }
now() { date +%s.%N; }
echo "outputs before: $(outs)"
echo "== a. park with a synthesis in flight"
( say inflight "Hi there. This is a longer sentence for the park to interrupt." > $TMP/inflight.result ) &
sleep 12
t0=$(now); park=$(curl -s -XPOST "${auth[@]}" $C/park); t1=$(now)
wait
echo "park answered in $(echo "$t1 - $t0" | bc) s: $park"
echo "in-flight request: $(cat $TMP/inflight.result), retry-after: $(grep -i retry-after $TMP/say.inflight.h | tr -d '\r')"
echo "outputs after the aborted request: $(outs)"
echo "== b. a request while parked"
echo "speech while parked: $(say parked 'Hi.'), $(grep -i retry-after $TMP/say.parked.h | tr -d '\r'), body $(cat $TMP/say.parked)"
echo "park asked again: $(curl -s -XPOST "${auth[@]}" $C/park | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], "already", d["already"])')"
echo "/api/unload while parked: $(curl -s -o /dev/null -w '%{http_code}' -XPOST $S/api/unload)"
echo "== c. park during unpark"
( curl -s -XPOST "${auth[@]}" $C/unpark > $TMP/unpark.c ) &
sleep 1
echo "park during unpark: $(curl -s -w ' %{http_code}' -XPOST "${auth[@]}" $C/park)"
wait; echo "unpark: $(cat $TMP/unpark.c)"
echo "== d. unpark during park"
( curl -s -XPOST "${auth[@]}" $C/park > $TMP/park.d ) &
sleep 1
echo "unpark during park: $(curl -s -w ' %{http_code}' -XPOST "${auth[@]}" $C/unpark)"
wait; echo "park: $(python3 -c 'import json; d=json.load(open("$TMP/park.d")); print(d["state"], d["seconds"])')"
echo "== e. a killed control call (unpark cut after 1 s)"
curl -s -m 1 -XPOST "${auth[@]}" $C/unpark; echo " curl exit $?"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  st=$(curl -s "${auth[@]}" $C/state | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["counts"])'); echo "state after $i s: $st"
  case "$st" in serving*) break;; esac; sleep 1; done
echo "== f. serving again"
echo "speech after unpark: $(say after 'Hi there.'), $(head -c 4 $TMP/say.after)"
echo "outputs at the end: $(outs)"
curl -s ${METRICS:-http://127.0.0.1:9403/metrics} | grep -E '^tts_server_(parks|unparks|park_failures|chunks|requests)_total'
