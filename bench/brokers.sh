# Shared by bench/compare-mosquitto and bench/callgrind-compare (sourced, not run): the two brokers
# with equivalent mutual-TLS setups. Needs ROOT (the checkout) and WORK (a scratch folder).

MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
# PORTCULLIS_BENCH_BIN runs another build (e.g. a copy of the binary before a change) without building.
BIN="${PORTCULLIS_BENCH_BIN:-$ROOT/.build/release/portcullis}"

install_mosquitto() {
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "==> installing mosquitto (Debian)"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto >/dev/null 2>&1 || {
      $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto >/dev/null; }
  fi
  MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
}

build_portcullis() {
  if [ -n "${PORTCULLIS_BENCH_BIN:-}" ]; then echo "==> using $BIN"; return; fi
  echo "==> building portcullis (release)"
  (cd "$ROOT" && swift build -c release --product portcullis >/dev/null)
}

free_port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most $2 seconds, default 60).
wait_for_port() {
  python3 - "$1" "${2:-60}" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
}

# Portcullis with its defaults except the per-connection rate quotas, which a load test must lift.
write_portcullis_config() {
  cat > "$WORK/portcullis.json" <<JSON
{ "limits": { "publishesPerSecond": 0, "bytesPerSecond": 0 }, "logging": { "level": "error" } }
JSON
}

# Creates the data folder (local CA, server certificate) and registered device certificates for the
# load generator, by starting Portcullis once with its API (device mint registers through it; the
# registry keeps them for the measured runs): `bench` with an allow-all policy (the comparison with
# mosquitto, which has no ACLs), and `bench-scoped` with ten policies of which only the last allows the
# bench's clients (bench/policies; the authorization cost). Sets DEV and TLS (for `bench`) and
# SCOPED_TLS.
prepare_pki() {
  write_portcullis_config
  "$BIN" serve --config "$WORK/portcullis.json" --data-dir "$WORK/data" --mqtt-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
    --ready-file "$WORK/pki-ready.json" >"$WORK/pki.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do [ -s "$WORK/pki-ready.json" ] && break; sleep 0.1; done
  local policies="$ROOT/bench/policies" scoped=()
  "$BIN" policy create bench-allow-all "$policies/allow-all.json" --data-dir "$WORK/data" >/dev/null
  for n in 0 1 2 3 4 5 6 7 8; do
    "$BIN" policy create "other-fleet-$n" "$policies/other-fleet-$n.json" --data-dir "$WORK/data" >/dev/null
    scoped+=(--policy "other-fleet-$n")
  done
  "$BIN" policy create bench-fleet "$policies/bench-fleet.json" --data-dir "$WORK/data" >/dev/null
  "$BIN" device mint bench --data-dir "$WORK/data" --days 2 --policy bench-allow-all >/dev/null
  "$BIN" device mint bench-scoped --data-dir "$WORK/data" --days 2 "${scoped[@]}" --policy bench-fleet >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  DEV="$WORK/data/devices/bench"
  TLS=(--ca "$DEV/root-ca.pem" --cert "$DEV/bench.cert.pem" --key "$DEV/bench.private.key")
  local scoped_dev="$WORK/data/devices/bench-scoped"
  SCOPED_TLS=(--ca "$scoped_dev/root-ca.pem" --cert "$scoped_dev/bench-scoped.cert.pem" --key "$scoped_dev/bench-scoped.private.key")
}

# mosquitto with the same CA, server certificate and client-certificate requirement, on port $1.
write_mosquitto_config() {
  cat > "$WORK/mosquitto.conf" <<CONF
listener $1 127.0.0.1
cafile $WORK/data/ca/root-ca.pem
certfile $WORK/data/server/server.pem
keyfile $WORK/data/server/server.key
require_certificate true
allow_anonymous true
persistence false
max_connections -1
max_queued_messages 1000
max_inflight_messages 100
set_tcp_nodelay true
log_dest none
CONF
  # Started as root, mosquitto drops to its own user, which cannot read the 0700 data folder; keep root.
  if [ "$(id -u)" -eq 0 ]; then echo "user root" >> "$WORK/mosquitto.conf"; fi
}
