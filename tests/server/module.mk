# tests/server: tb-inferd over loopback on the simulated box (serve.sh), its
# pin of verified weights (pin.sh), its systemd unit (unit.sh)
TESTS += tests/server/serve.sh tests/server/serve_load.sh tests/server/pin.sh tests/server/unit.sh
